//! Prometheus metrics (text format at `/metrics`). Label values come from
//! small fixed sets (outcome, grant, auth method, endpoint pattern): no client
//! id, token or secret is ever a label. Counters on the token path are
//! resolved once into a table indexed by position, so recording costs an
//! atomic add. tokend's own series are named `tokend_*`; the process series
//! carry the standard `process_*` names dashboards expect.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

mod process;

/// Outcomes of a token request: issued, or an RFC 6749 error code.
pub const OUTCOMES: &[&str] = &[
    "issued",
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "invalid_dpop_proof",
    "temporarily_unavailable",
    "server_error",
];

/// The grant asked for; `other` for anything unsupported or missing.
pub const GRANTS: &[&str] = &[
    "client_credentials",
    "jwt_bearer",
    "token_exchange",
    "other",
];

/// How the client authenticated; `none` when it could not be told.
pub const AUTH_METHODS: &[&str] = &[
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "federated",
    "tls_client_auth",
    "none",
];

/// Route patterns with their own latency histogram; anything else is `other`.
pub const ENDPOINTS: &[&str] = &[
    "/token",
    "/introspect",
    "/revoke",
    "/.well-known/jwks.json",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/admin",
    "other",
];

pub struct Metrics {
    registry: Registry,
    /// Indexed `[outcome][grant][auth_method]` by position in the tables above.
    token_requests: Vec<IntCounter>,
    /// Indexed by position in [`ENDPOINTS`].
    latency: Vec<Histogram>,
    pub rotations: IntCounter,
    pub database_errors: IntCounter,
    pub auth_failures_limited: IntCounter,
    /// Workload tokens by trust provider (operator-configured names, a
    /// small set) and outcome.
    federated: IntCounterVec,
    /// Token requests past a client's quota: `[enforce, monitor]`.
    quota_exceeded: [IntCounter; 2],
    pub signing_key_age: Gauge,
    pub keys_published: IntGauge,
    pub registered_clients: IntGauge,
    pub deny_list_entries: IntGauge,
    pub jwks_max_age: IntGauge,
    pub next_key_publication: IntGauge,
    pub next_rotation: IntGauge,
    pub next_key_removal: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let token_vec = IntCounterVec::new(
            Opts::new(
                "tokend_token_requests_total",
                "Token requests by outcome, grant and client authentication method",
            ),
            &["outcome", "grant", "auth_method"],
        )
        .expect("valid metric");
        let mut token_requests = Vec::new();
        for outcome in OUTCOMES {
            for grant in GRANTS {
                for method in AUTH_METHODS {
                    token_requests.push(token_vec.with_label_values(&[outcome, grant, method]));
                }
            }
        }
        let latency_vec = prometheus::HistogramVec::new(
            HistogramOpts::new(
                "tokend_http_request_duration_seconds",
                "Request latency by endpoint",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                5.0,
            ]),
            &["endpoint"],
        )
        .expect("valid metric");
        let latency = ENDPOINTS
            .iter()
            .map(|e| latency_vec.with_label_values(&[e]))
            .collect();
        let counter = |name: &str, help: &str| {
            IntCounter::new(format!("tokend_{name}"), help).expect("valid metric")
        };
        let gauge = |name: &str, help: &str| {
            IntGauge::new(format!("tokend_{name}"), help).expect("valid metric")
        };
        let federated = IntCounterVec::new(
            Opts::new(
                "tokend_federated_requests_total",
                "Workload identity tokens presented, by trust provider and outcome",
            ),
            &["provider", "outcome"],
        )
        .expect("valid metric");
        let quota_vec = IntCounterVec::new(
            Opts::new(
                "tokend_quota_exceeded_total",
                "Token requests past their client's quota, by quota mode (enforce: refused with 429; monitor: issued and counted)",
            ),
            &["mode"],
        )
        .expect("valid metric");
        let metrics = Self {
            quota_exceeded: [
                quota_vec.with_label_values(&["enforce"]),
                quota_vec.with_label_values(&["monitor"]),
            ],
            federated,
            token_requests,
            latency,
            rotations: counter(
                "key_rotations_total",
                "Keys created by rotations (scheduled, manual, revocation)",
            ),
            database_errors: counter(
                "database_errors_total",
                "Failed database operations of the background task",
            ),
            auth_failures_limited: counter(
                "auth_failures_limited_total",
                "Requests refused with 429 after too many failed authentications",
            ),
            signing_key_age: Gauge::new(
                "tokend_signing_key_age_seconds",
                "Age of the active signing key",
            )
            .expect("valid metric"),
            keys_published: gauge("keys_published", "Keys in the JWKS"),
            registered_clients: gauge("registered_clients", "Clients in the in-memory directory"),
            deny_list_entries: gauge(
                "deny_list_entries",
                "Revoked token ids kept until they expire",
            ),
            jwks_max_age: gauge(
                "jwks_max_age_seconds",
                "The JWKS Cache-Control max-age served now",
            ),
            next_key_publication: gauge(
                "next_key_publication_timestamp_seconds",
                "When the next key will be published",
            ),
            next_rotation: gauge(
                "next_rotation_timestamp_seconds",
                "When a new key will start signing",
            ),
            next_key_removal: gauge(
                "next_key_removal_timestamp_seconds",
                "When the next retired or revoked key will be removed (0: none)",
            ),
            registry,
        };
        let r = &metrics.registry;
        r.register(Box::new(token_vec)).expect("registered once");
        r.register(Box::new(latency_vec)).expect("registered once");
        r.register(Box::new(metrics.federated.clone()))
            .expect("registered once");
        r.register(Box::new(quota_vec)).expect("registered once");
        for c in [
            &metrics.rotations,
            &metrics.database_errors,
            &metrics.auth_failures_limited,
        ] {
            r.register(Box::new(c.clone())).expect("registered once");
        }
        r.register(Box::new(metrics.signing_key_age.clone()))
            .expect("registered once");
        for g in [
            &metrics.keys_published,
            &metrics.registered_clients,
            &metrics.deny_list_entries,
            &metrics.jwks_max_age,
            &metrics.next_key_publication,
            &metrics.next_rotation,
            &metrics.next_key_removal,
        ] {
            r.register(Box::new(g.clone())).expect("registered once");
        }
        r.register(Box::new(process::ProcessCollector::new()))
            .expect("registered once");
        metrics
    }

    /// Counts a workload token of `provider`: `authenticated`, `refused` or
    /// `unavailable`.
    pub fn federated_request(&self, provider: &str, outcome: &str) {
        self.federated.with_label_values(&[provider, outcome]).inc();
    }

    /// Counts a token request past its client's quota (refused, or issued
    /// in monitor mode).
    pub fn quota_exceeded(&self, monitor: bool) {
        self.quota_exceeded[usize::from(monitor)].inc();
    }

    /// Counts a token request. The names come from the fixed tables; an
    /// unknown one counts as `server_error` / `other` / `none`.
    pub fn token_request(&self, outcome: &str, grant: &str, auth_method: &str) {
        let position = |table: &[&str], name: &str, fallback: usize| {
            table.iter().position(|n| *n == name).unwrap_or(fallback)
        };
        let o = position(OUTCOMES, outcome, OUTCOMES.len() - 1);
        let g = position(GRANTS, grant, GRANTS.len() - 1);
        let m = position(AUTH_METHODS, auth_method, AUTH_METHODS.len() - 1);
        let index = (o * GRANTS.len() + g) * AUTH_METHODS.len() + m;
        self.token_requests[index].inc();
    }

    /// Records a request's latency under its route pattern.
    pub fn observe(&self, pattern: Option<&str>, seconds: f64) {
        let other = ENDPOINTS.len() - 1;
        let index = match pattern {
            Some(p) if p.starts_with("/admin") => ENDPOINTS.len() - 2,
            Some(p) => ENDPOINTS.iter().position(|e| *e == p).unwrap_or(other),
            None => other,
        };
        if let Some(h) = self.latency.get(index) {
            h.observe(seconds);
        }
    }

    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8192);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("metrics encode");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency_count(metrics: &Metrics, endpoint: &str) -> u64 {
        let text = String::from_utf8(metrics.render()).unwrap();
        let prefix =
            format!("tokend_http_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |n| n.parse().unwrap())
    }

    #[test]
    fn latency_is_observed_under_the_route_its_admin_group_or_other() {
        let metrics = Metrics::new();
        metrics.observe(Some("/token"), 0.001);
        metrics.observe(Some("/token"), 0.002);
        metrics.observe(Some("/admin/clients/{id}"), 0.001);
        metrics.observe(Some("/console/clients"), 0.001);
        metrics.observe(None, 0.001);
        assert_eq!(latency_count(&metrics, "/token"), 2);
        assert_eq!(latency_count(&metrics, "/admin"), 1);
        assert_eq!(latency_count(&metrics, "other"), 2);
        assert_eq!(latency_count(&metrics, "/introspect"), 0);
    }
}
