//! The key timeline drawn to scale: one row per key (published → active →
//! retired → removed), a "now" line and the next planned events, as SVG
//! geometry computed here and drawn by the template.

use crate::admin::KeyPlan;
use crate::keys::KeyState;
use chrono::{DateTime, Utc};

const TOP: f64 = 24.0;

/// How the drawing is laid out: wide (key names left of their bars) for a
/// desk, narrow (names above the bars, the whole width for time) for a
/// phone. The page carries both; its stylesheet shows one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    /// Width in SVG units (the drawing scales to its box).
    pub width: f64,
    /// Left margin before time begins (the key names, when beside the bars).
    label: f64,
    row: f64,
    /// The key name above its bar rather than beside it.
    names_above: bool,
}

impl Layout {
    pub const WIDE: Self = Self {
        width: 1000.0,
        label: 150.0,
        row: 30.0,
        names_above: false,
    };
    /// Drawn at about its own size in a phone's 360 px column, so its text
    /// stays as large as the page's.
    pub const NARROW: Self = Self {
        width: 360.0,
        label: 6.0,
        row: 40.0,
        names_above: true,
    };
}

/// One stretch of a key's life.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub x: f64,
    pub width: f64,
    /// `published`, `active`, `retired`, `revoked`.
    pub class: &'static str,
    /// What the stretch is, for the tooltip and screen readers.
    pub title: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kid: String,
    pub short: String,
    pub state: String,
    /// The key name's baseline.
    pub label_x: f64,
    pub label_y: f64,
    /// The bar's top and height.
    pub y: f64,
    pub height: f64,
    pub segments: Vec<Segment>,
}

/// A vertical marker: now, or a planned event.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub x: f64,
    /// The label's baseline: markers close together get their own lines.
    pub y: f64,
    /// Labelled to the left of the line (near the right edge).
    pub end: bool,
    pub label: String,
    pub class: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub width: f64,
    pub height: f64,
    pub rows: Vec<Row>,
    pub markers: Vec<Marker>,
    pub from: String,
    pub to: String,
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The timeline of `plan`, from the oldest key shown to just past the
/// furthest event, drawn in `layout`.
pub fn timeline(plan: &KeyPlan, layout: Layout) -> Timeline {
    let Layout {
        width,
        label,
        row,
        names_above,
    } = layout;
    let now = plan.now;
    let mut start = now;
    let mut end = plan.next.rotation_at.max(plan.next.key_published_at);
    for k in &plan.keys {
        start = start.min(k.published_at);
        for t in [
            Some(k.active_from),
            k.retired_at,
            k.revoked_at,
            k.removal_at,
        ]
        .into_iter()
        .flatten()
        {
            end = end.max(t);
        }
    }
    if let Some(removal) = plan.next.removal_at {
        end = end.max(removal);
    }
    let span = (end - start).num_seconds().max(60) as f64;
    // A little room after the last event.
    let end = start + chrono::Duration::seconds((span * 1.05) as i64);
    let span = span * 1.05;
    let x = |t: DateTime<Utc>| {
        label + (t - start).num_seconds().max(0) as f64 / span * (width - label - 10.0)
    };
    let mut rows = Vec::new();
    for (i, k) in plan.keys.iter().enumerate() {
        let top = TOP + i as f64 * row;
        // Beside: name and bar on one line; above: the name, then the bar.
        let (label_y, y, height) = if names_above {
            (top + 12.0, top + 17.0, 16.0)
        } else {
            (top + 15.0, top, 20.0)
        };
        let mut segments = Vec::new();
        let mut push = |from: DateTime<Utc>, to: DateTime<Utc>, class: &'static str, what: &str| {
            if to > from {
                segments.push(Segment {
                    x: x(from),
                    width: (x(to) - x(from)).max(2.0),
                    class,
                    title: format!("{what}: {} → {}", fmt(from), fmt(to)),
                });
            }
        };
        push(
            k.published_at,
            k.active_from,
            "published",
            "published, not signing",
        );
        // Active until retired (or revoked), the active key until the next
        // rotation.
        let active_end = k
            .retired_at
            .or(k.revoked_at)
            .unwrap_or(if k.state == KeyState::Active {
                plan.next.rotation_at
            } else {
                k.active_from
            });
        push(k.active_from, active_end, "active", "signing");
        if let Some(removal) = k.removal_at {
            let class = if k.revoked_at.is_some() {
                "revoked"
            } else {
                "retired"
            };
            let what = if k.revoked_at.is_some() {
                "revoked, removed from the JWKS at once"
            } else {
                "retired, still published for tokens it signed"
            };
            push(active_end, removal, class, what);
        }
        rows.push(Row {
            short: k.kid.chars().take(12).collect(),
            kid: k.kid.clone(),
            state: format!("{:?}", k.state).to_lowercase(),
            label_x: if names_above { label } else { 4.0 },
            label_y,
            y,
            height,
            segments,
        });
    }
    let mut events = vec![
        (now, "now", "now"),
        (plan.next.key_published_at, "next key published", "planned"),
        (plan.next.rotation_at, "next rotation", "planned"),
    ];
    if let Some(removal) = plan.next.removal_at {
        events.push((removal, "next removal", "planned"));
    }
    // Labels go on their own lines below the rows, one line per marker.
    let rows_end = TOP + plan.keys.len().max(1) as f64 * row;
    let markers: Vec<Marker> = events
        .into_iter()
        .enumerate()
        .map(|(i, (t, label, class))| Marker {
            x: x(t),
            y: rows_end + 12.0 + i as f64 * 14.0,
            end: x(t) > width * 0.6,
            label: label.into(),
            class,
        })
        .collect();
    Timeline {
        width,
        height: rows_end + 12.0 + markers.len() as f64 * 14.0,
        rows,
        markers,
        from: fmt(start),
        to: fmt(end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{KeyView, PlannedEvents};
    use crate::domain::Algorithm;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + h * 3600, 0).unwrap()
    }

    fn key(
        kid: &str,
        state: KeyState,
        published: i64,
        active: i64,
        retired: Option<i64>,
        removal: Option<i64>,
    ) -> KeyView {
        KeyView {
            kid: kid.into(),
            alg: Algorithm::ES256,
            state,
            published_at: t(published),
            active_from: t(active),
            retired_at: retired.map(t),
            revoked_at: None,
            removal_at: removal.map(t),
            max_ttl_secs: 3600,
        }
    }

    #[test]
    fn segments_are_to_scale_and_in_order() {
        let plan = KeyPlan {
            now: t(10),
            keys: vec![
                key("next", KeyState::Next, 9, 11, None, None),
                key("current", KeyState::Active, 0, 2, None, None),
                key("old", KeyState::Retired, 0, 0, Some(2), Some(4)),
            ],
            next: PlannedEvents {
                key_published_at: t(9),
                rotation_at: t(11),
                removal_at: Some(t(4)),
            },
        };
        let tl = timeline(&plan, Layout::WIDE);
        assert_eq!(tl.rows.len(), 3);
        let current = &tl.rows[1];
        let active = current
            .segments
            .iter()
            .find(|s| s.class == "active")
            .unwrap();
        let published = current
            .segments
            .iter()
            .find(|s| s.class == "published")
            .unwrap();
        // 2 h published, 9 h active: widths in that ratio.
        assert!(
            (active.width / published.width - 4.5).abs() < 0.01,
            "{current:?}"
        );
        assert!((published.x + published.width - active.x).abs() < 1e-6);
        let old = &tl.rows[2];
        assert_eq!(
            old.segments.iter().map(|s| s.class).collect::<Vec<_>>(),
            vec!["active", "retired"]
        );
        let now = tl.markers.iter().find(|m| m.class == "now").unwrap();
        assert!(now.x > active.x && now.x < active.x + active.width);
        assert!(
            tl.rows
                .iter()
                .flat_map(|r| &r.segments)
                .all(|s| s.x >= Layout::WIDE.label && s.x + s.width <= Layout::WIDE.width)
        );
        // Narrow: the same proportions in a third of the width, each name
        // above its bar and inside the drawing.
        let narrow = timeline(&plan, Layout::NARROW);
        assert_eq!(narrow.width, 360.0);
        let bars =
            |tl: &Timeline| -> Vec<f64> { tl.rows[1].segments.iter().map(|s| s.width).collect() };
        let (wide, thin) = (bars(&tl), bars(&narrow));
        assert!((wide[1] / wide[0] - thin[1] / thin[0]).abs() < 0.01);
        for r in &narrow.rows {
            assert!(r.label_y < r.y, "the name above the bar: {r:?}");
            assert!(r.segments.iter().all(|s| s.x + s.width <= 360.0));
        }
        assert!(narrow.markers.iter().all(|m| m.x <= 360.0));
    }
}
