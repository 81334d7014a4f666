//! The trust directory (SPEC §8): every trust provider with its key source
//! and its bindings, in memory, replaced from the database whenever the
//! change feed says `trust`; a provider whose key source did not change
//! keeps its cached keys. Also the bounded memory of workload tokens whose
//! signature already verified.

use super::federation::{Provider, ProviderKeys};
use crate::domain::{Binding, KeySource, ProviderKind, TrustProvider};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokend_verify::{Algorithm, JwksCache, KeySet};

#[derive(Default)]
struct Trust {
    providers: Vec<Arc<Provider>>,
    by_issuer: HashMap<String, usize>,
}

/// Every trust provider and binding, in memory; the background task replaces
/// it from the database whenever the change feed says `trust`.
pub struct TrustDirectory {
    current: ArcSwap<Trust>,
    fetch_timeout: Duration,
    /// Workload tokens whose signature already verified (see [`Verified`]).
    pub(super) verified: quick_cache::sync::Cache<[u8; 32], Arc<Verified>>,
}

/// Workload tokens whose signature verified, by SHA-256 of the token: a
/// Kubernetes or SPIFFE token is presented again and again until it expires,
/// and its signature (a P-256 or RSA verification, several times the cost of
/// signing tokend's own token) need not be checked each time. A hit counts
/// only for the same provider while the key is still in its set; every
/// claim and binding is checked on every request. Single-use providers skip
/// it (a token is used once).
pub struct Verified {
    pub(super) provider: String,
    pub(super) kid: String,
    pub(super) payload: Vec<u8>,
}

/// Workload tokens remembered as signature-checked (about 1–2 KiB each).
const VERIFIED_CAPACITY: usize = 10_000;

/// The key-source part of a provider's settings: while it stays the same, a
/// reload keeps the provider's JWKS cache (and the keys in it).
fn same_key_source(a: &TrustProvider, b: &TrustProvider) -> bool {
    a.issuer == b.issuer
        && a.kind == b.kind
        && a.keys == b.keys
        && a.ca_file == b.ca_file
        && a.bearer_token_file == b.bearer_token_file
}

/// Builds a provider's key source from its settings.
fn key_source(p: &TrustProvider, fetch_timeout: Duration) -> ProviderKeys {
    let spiffe = p.kind == ProviderKind::Spiffe;
    let remote = |builder: tokend_verify::JwksCacheBuilder| {
        let mut builder = builder
            .timeout(fetch_timeout)
            .refetch_cooldown(Duration::from_secs(10))
            .default_max_age(Duration::from_secs(300))
            .max_age_bounds(Duration::from_secs(60), Duration::from_secs(86_400))
            .max_stale(Duration::from_secs(86_400));
        if spiffe {
            builder = builder.rsa_without_alg(Algorithm::RS256);
        }
        if let Some(ca) = &p.ca_file {
            match std::fs::read(ca) {
                Ok(pem) => builder = builder.root_certificates_pem(pem),
                Err(e) => {
                    return ProviderKeys::Broken(format!("cannot read the CA file {ca}: {e}"));
                }
            }
        }
        if let Some(token) = &p.bearer_token_file {
            builder = builder.bearer_token_file(token);
        }
        match builder.build() {
            Ok(cache) => ProviderKeys::Remote(cache),
            Err(e) => ProviderKeys::Broken(e.to_string()),
        }
    };
    match &p.keys {
        KeySource::Discovery => remote(JwksCache::openid(p.issuer.clone())),
        KeySource::JwksUri { url } => remote(JwksCache::jwks_uri(url.clone())),
        KeySource::Inline { jwks } => {
            let json = jwks.to_string();
            let parsed = if spiffe {
                KeySet::from_jwks_rsa_default(json.as_bytes(), &Algorithm::ALL, Algorithm::RS256)
            } else {
                KeySet::from_jwks(json.as_bytes(), &Algorithm::ALL)
            };
            match parsed {
                Ok(keys) => ProviderKeys::Inline(Arc::new(keys)),
                Err(e) => ProviderKeys::Broken(e.to_string()),
            }
        }
    }
}

impl TrustDirectory {
    pub fn new(fetch_timeout: Duration) -> Self {
        Self {
            current: ArcSwap::from_pointee(Trust::default()),
            fetch_timeout,
            verified: quick_cache::sync::Cache::new(VERIFIED_CAPACITY),
        }
    }

    /// Replaces every provider and binding; a provider whose key source is
    /// unchanged keeps its cached keys.
    pub fn replace(&self, providers: Vec<TrustProvider>, bindings: Vec<Binding>) {
        let old = self.current.load();
        let mut by_provider: HashMap<String, Vec<Binding>> = HashMap::new();
        for b in bindings {
            by_provider.entry(b.provider.clone()).or_default().push(b);
        }
        let mut trust = Trust::default();
        for config in providers {
            let previous = old
                .by_issuer
                .get(&config.issuer)
                .map(|&i| &old.providers[i])
                .filter(|p| same_key_source(&p.config, &config));
            let keys = match previous.map(|p| &p.keys) {
                Some(ProviderKeys::Remote(cache)) => ProviderKeys::Remote(cache.clone()),
                Some(ProviderKeys::Inline(keys)) => ProviderKeys::Inline(keys.clone()),
                _ => key_source(&config, self.fetch_timeout),
            };
            if let ProviderKeys::Broken(why) = &keys {
                tracing::error!(provider = %config.name, error = %why,
                    "trust provider unusable: its tokens will be refused");
            }
            let bindings = by_provider.remove(&config.name).unwrap_or_default();
            trust
                .by_issuer
                .insert(config.issuer.clone(), trust.providers.len());
            trust.providers.push(Arc::new(Provider {
                config,
                keys,
                bindings,
            }));
        }
        self.current.store(Arc::new(trust));
    }

    /// Whether any provider is configured (the token path skips federation
    /// entirely otherwise).
    pub fn is_empty(&self) -> bool {
        self.current.load().providers.is_empty()
    }

    /// The provider of a token: by `iss`, or for SPIFFE (where `iss` may be
    /// absent) by the trust domain of `sub`.
    pub fn provider_for(&self, iss: Option<&str>, sub: Option<&str>) -> Option<Arc<Provider>> {
        let trust = self.current.load();
        if let Some(&i) = iss.and_then(|iss| trust.by_issuer.get(iss)) {
            return Some(trust.providers[i].clone());
        }
        let domain = sub?.strip_prefix("spiffe://")?.split('/').next()?;
        trust
            .by_issuer
            .get(&format!("spiffe://{domain}"))
            .map(|&i| trust.providers[i].clone())
            .filter(|p| p.config.kind == ProviderKind::Spiffe)
    }

    pub fn by_name(&self, name: &str) -> Option<Arc<Provider>> {
        self.current
            .load()
            .providers
            .iter()
            .find(|p| p.config.name == name)
            .cloned()
    }
}
