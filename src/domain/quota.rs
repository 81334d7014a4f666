//! A client's token quota (SPEC §11): at most N tokens per minute, hour or
//! day, enforced (429 past it) or only monitored.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The window a quota counts in. Windows are fixed and aligned to the Unix
/// epoch (a minute starts at :00), so every replica agrees on which window a
/// token falls in without talking to the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuotaWindow {
    #[serde(rename = "m")]
    Minute,
    #[serde(rename = "h")]
    Hour,
    #[serde(rename = "d")]
    Day,
}

impl QuotaWindow {
    pub fn secs(self) -> i64 {
        match self {
            QuotaWindow::Minute => 60,
            QuotaWindow::Hour => 3600,
            QuotaWindow::Day => 86_400,
        }
    }

    pub fn letter(self) -> &'static str {
        match self {
            QuotaWindow::Minute => "m",
            QuotaWindow::Hour => "h",
            QuotaWindow::Day => "d",
        }
    }

    /// The start of the window `t` falls in.
    pub fn start(self, t: i64) -> i64 {
        t - t.rem_euclid(self.secs())
    }
}

/// What happens past the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaMode {
    /// `429 temporarily_unavailable` until the window ends.
    #[default]
    Enforce,
    /// Tokens are issued; the excess is counted (a metric, one audit event
    /// per window).
    Monitor,
}

impl QuotaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaMode::Enforce => "enforce",
            QuotaMode::Monitor => "monitor",
        }
    }
}

impl FromStr for QuotaMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "enforce" => Ok(QuotaMode::Enforce),
            "monitor" => Ok(QuotaMode::Monitor),
            other => Err(format!(
                "`{}` is not a quota mode; use enforce or monitor",
                other.escape_default()
            )),
        }
    }
}

/// At most `limit` tokens per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window: QuotaWindow,
}

/// Largest limit accepted: beyond it a quota protects nothing.
pub const MAX_QUOTA: u32 = 100_000_000;

impl Quota {
    /// The IETF `RateLimit-Policy` item (draft-ietf-httpapi-ratelimit-headers):
    /// `"tokens";q=N;w=SECS`.
    pub fn policy_header(&self) -> String {
        format!("\"tokens\";q={};w={}", self.limit, self.window.secs())
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.limit, self.window.letter())
    }
}

impl FromStr for Quota {
    type Err = String;

    /// `N/m`, `N/h` or `N/d` (also `N/min`, `N/hour`, `N/day`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "`{}` is not a quota; write N/m, N/h or N/d (e.g. 100/h)",
                s.escape_default()
            )
        };
        let (n, per) = s.trim().split_once('/').ok_or_else(bad)?;
        let limit: u32 = n.trim().parse().map_err(|_| bad())?;
        if limit == 0 || limit > MAX_QUOTA {
            return Err(format!(
                "a quota's limit is between 1 and {MAX_QUOTA} tokens (got {limit}); a client that may get no token is disabled instead"
            ));
        }
        let window = match per.trim() {
            "m" | "min" | "minute" => QuotaWindow::Minute,
            "h" | "hour" => QuotaWindow::Hour,
            "d" | "day" => QuotaWindow::Day,
            _ => return Err(bad()),
        };
        Ok(Quota { limit, window })
    }
}

/// A client's quota setting: the service default (`tokens.default_quota`),
/// none at all, or its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuotaSetting {
    #[default]
    Default,
    Unlimited,
    Limit(Quota),
}

impl QuotaSetting {
    /// `default`, `none`, or a quota.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "default" | "" => Ok(QuotaSetting::Default),
            "none" | "unlimited" => Ok(QuotaSetting::Unlimited),
            q => q.parse().map(QuotaSetting::Limit),
        }
    }

    /// What applies, given the service default.
    pub fn effective(self, default: Option<Quota>) -> Option<Quota> {
        match self {
            QuotaSetting::Default => default,
            QuotaSetting::Unlimited => None,
            QuotaSetting::Limit(q) => Some(q),
        }
    }
}

impl fmt::Display for QuotaSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaSetting::Default => f.write_str("default"),
            QuotaSetting::Unlimited => f.write_str("none"),
            QuotaSetting::Limit(q) => q.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let q: Quota = "100/h".parse().unwrap();
        assert_eq!(q.limit, 100);
        assert_eq!(q.window, QuotaWindow::Hour);
        assert_eq!(q.to_string(), "100/h");
        assert_eq!("5/min".parse::<Quota>().unwrap().to_string(), "5/m");
        assert_eq!("7 / day".parse::<Quota>().unwrap().to_string(), "7/d");
        assert_eq!(q.policy_header(), "\"tokens\";q=100;w=3600");
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "",
            "100",
            "/h",
            "x/h",
            "100/s",
            "0/h",
            "-1/m",
            "100000001/d",
        ] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }

    #[test]
    fn settings() {
        assert_eq!(
            QuotaSetting::parse("none").unwrap(),
            QuotaSetting::Unlimited
        );
        assert_eq!(
            QuotaSetting::parse("default").unwrap(),
            QuotaSetting::Default
        );
        let d = Some("10/m".parse().unwrap());
        assert_eq!(QuotaSetting::Default.effective(d), d);
        assert_eq!(QuotaSetting::Unlimited.effective(d), None);
        assert_eq!(
            QuotaSetting::parse("3/d")
                .unwrap()
                .effective(d)
                .unwrap()
                .to_string(),
            "3/d"
        );
    }

    #[test]
    fn windows_align_to_the_epoch() {
        assert_eq!(QuotaWindow::Minute.start(125), 120);
        assert_eq!(QuotaWindow::Hour.start(3599), 0);
        assert_eq!(QuotaWindow::Day.start(86_400 * 3 + 5), 86_400 * 3);
    }
}
