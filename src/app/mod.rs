//! Builds the running service: opens the environment, makes sure a signing
//! key exists, binds the listener (port 0 allowed), and starts the actix-web
//! server and the background task that follows the change feed, applies the
//! rotation plan and reloads the key ring.

use crate::admin::{Admin, AdminError};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::{Audience, TokenPolicy};
use crate::http;
use crate::metrics::Metrics;
use crate::oauth::limiter::{FailureLimiter, Limits};
use crate::oauth::{
    ClientAuthenticator, ClientDirectory, DenyList, TokenInspector, TokenIssuer, VerifiedTokens,
};
use crate::state::{AppState, load_all_clients};
use actix_web::{App, HttpServer, web};
use arc_swap::ArcSwap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

mod background;
use background::{follow_changes, reload_on_sighup};

/// Introspected tokens remembered as signature-checked (about 0.5 KiB each).
const VERIFIED_TOKENS_CAPACITY: usize = 10_000;
/// (provider, subject, client) triples remembered for the first-use audit.
const FEDERATED_SEEN_CAPACITY: usize = 10_000;
/// Windows of the failed-authentication limiter (client ids and addresses).
const LIMITER_CAPACITY: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("no signing key can sign; the key ring is empty")]
    NoSigningKey,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

pub struct Application {
    port: u16,
    tls: Option<Arc<crate::tls::ReloadableCert>>,
    issuer: String,
    server: actix_web::dev::Server,
    state: Arc<AppState>,
    last_seq: i64,
}

impl Application {
    pub async fn build(settings: Settings, clock: SharedClock) -> Result<Self, StartError> {
        settings.validate()?;
        let addr = settings.listen_addr()?;
        let settings = Arc::new(settings);
        let admin = Admin::open(settings.clone(), clock.clone()).await?;
        for warning in settings.warnings() {
            tracing::warn!("{warning}");
        }
        let last_seq = admin
            .store
            .latest_change()
            .await
            .map_err(AdminError::from)?;
        for action in admin.as_actor("scheduler").apply_plan().await? {
            tracing::info!(?action, "key rotation plan applied");
        }
        let ring = admin.load_ring().await?;
        if ring.signer(clock.now().timestamp()).is_none() {
            return Err(StartError::NoSigningKey);
        }

        let tls = match (&settings.tls.cert_file, &settings.tls.key_file) {
            (Some(cert), Some(key)) => Some(Arc::new(crate::tls::ReloadableCert::load(cert, key)?)),
            _ => None,
        };
        let listener = TcpListener::bind(addr).map_err(|source| StartError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let bound: SocketAddr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let issuer = settings.issuer_for(bound);
        let default_audience = Audience::parse(
            settings
                .tokens
                .default_audience
                .as_deref()
                .unwrap_or(&issuer),
        )
        .map_err(|e| crate::config::ConfigError::Invalid {
            setting: "tokens.default_audience",
            reason: e,
        })?;

        let ring = Arc::new(ArcSwap::from_pointee(ring));
        let metrics = Arc::new(Metrics::new());
        let clients = Arc::new(ClientDirectory::default());
        clients.replace_all(load_all_clients(&admin.store).await?);
        admin.serve_clients_to(clients.clone());
        let deny = Arc::new(DenyList::default());
        deny.replace(
            admin
                .store
                .revoked_tokens(clock.now().timestamp())
                .await
                .map_err(AdminError::from)?,
        );
        let trust = Arc::new(crate::oauth::TrustDirectory::new(
            settings.federation.fetch_timeout,
        ));
        admin.serve_trust_to(trust.clone());
        admin.refresh_local_trust().await?;
        let client_ca = match &settings.tls.client_ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| crate::config::ConfigError::Invalid {
                    setting: "tls.client_ca_file",
                    reason: format!("{}: {e}", path.display()),
                })?;
                Some(Arc::new(
                    crate::oauth::mtls::ClientCa::from_pem(&pem).map_err(|reason| {
                        crate::config::ConfigError::Invalid {
                            setting: "tls.client_ca_file",
                            reason: format!("{}: {reason}", path.display()),
                        }
                    })?,
                ))
            }
            None => None,
        };
        let auth = Arc::new(ClientAuthenticator {
            client_ca: client_ca.clone(),
            clients: clients.clone(),
            pepper: admin.pepper.clone(),
            replays: Arc::new(crate::store::ReplayBatcher::spawn(admin.store.clone())),
            audit: Arc::new(admin.store.clone()),
            assertion_audiences: vec![format!("{issuer}/token"), issuer.clone()],
            leeway: settings.tokens.leeway.as_secs() as i64,
            limiter: FailureLimiter::new(Limits::default(), LIMITER_CAPACITY),
            metrics: metrics.clone(),
            trust,
            federated_seen: quick_cache::sync::Cache::new(FEDERATED_SEEN_CAPACITY),
        });
        let inspector = Arc::new(TokenInspector {
            issuer: issuer.clone(),
            ring: ring.clone(),
            deny: deny.clone(),
            clients: clients.clone(),
            revocations: Arc::new(admin.store.clone()),
            clock: clock.clone(),
            verified: VerifiedTokens::new(VERIFIED_TOKENS_CAPACITY),
        });
        let quotas = Arc::new(crate::oauth::quota::QuotaCounter::new(
            Arc::new(admin.store.clone()),
            settings.tokens.default_quota().map_err(|reason| {
                crate::config::ConfigError::Invalid {
                    setting: "tokens.default_quota",
                    reason,
                }
            })?,
        ));
        quotas.spawn_sync(clock.clone());
        let tokens = TokenIssuer {
            issuer: issuer.clone(),
            policy: TokenPolicy {
                default_ttl: settings.tokens.ttl,
                max_ttl: settings.tokens.max_ttl,
                default_audience,
            },
            auth: auth.clone(),
            ring: ring.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            inspector: inspector.clone(),
            quotas: quotas.clone(),
        };
        let state = Arc::new(AppState {
            metadata: ArcSwap::from_pointee(crate::oauth::render_metadata(&issuer, &[], false)),
            admin,
            issuer: issuer.clone(),
            auth,
            tokens,
            inspector,
            ring,
            clients,
            deny,
            metrics,
        });
        state.refresh_metadata().await?;

        let data = web::Data::from(state.clone());
        let metrics_data = web::Data::from(state.metrics.clone());
        let proxies = web::Data::new(settings.http.trusted_proxies.clone());
        let cert_header = web::Data::new(http::forwarded::CertHeaderSetting(
            settings.tls.client_cert_header,
        ));
        let console = settings.admin.console;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(metrics_data.clone())
                .app_data(proxies.clone())
                .app_data(cert_header.clone())
                .wrap(http::RequestLayer)
                .configure(|cfg| {
                    if console {
                        crate::console::routes(cfg);
                    }
                })
                .configure(http::routes)
        })
        .on_connect(tokend_verify::actix::client_certificate_on_connect)
        .workers(workers)
        .shutdown_timeout(30)
        // Slow or idle clients cannot hold connections forever.
        .client_request_timeout(Duration::from_secs(10))
        .client_disconnect_timeout(Duration::from_secs(2))
        .keep_alive(Duration::from_secs(75))
        .max_connections(10_000)
        .backlog(2048);
        let server = match &tls {
            Some(cert) => server.listen_rustls_0_23(
                listener,
                cert.server_config(client_ca.as_ref().map(|ca| ca.verifier())),
            ),
            None => server.listen(listener),
        }
        .map_err(|source| StartError::Bind {
            addr: bound.to_string(),
            source,
        })?
        .run();
        tracing::info!(address = %bound, %issuer, tls = tls.is_some(), "tokend is listening");
        Ok(Self {
            port: bound.port(),
            tls,
            issuer,
            server,
            state,
            last_seq,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM/SIGINT (actix stops accepting, lets requests in
    /// flight finish, then returns).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let background = tokio::spawn(follow_changes(self.state.clone(), self.last_seq));
        let reloader = self
            .tls
            .clone()
            .map(|cert| tokio::spawn(reload_on_sighup(cert)));
        let result = self.server.await;
        background.abort();
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        self.state.admin.store.close().await;
        result
    }
}
