//! The command line (SPEC §4). Every command reads the same configuration as
//! `serve` and calls the same `admin` functions as the HTTP API. This file is
//! the clap definitions; `run.rs` dispatches, `render.rs` prints.

mod client;
mod render;
mod run;
mod trust;

pub use run::run;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "tokend",
    version,
    about = "OAuth 2.0 client-credentials token service: RFC 9068 JWT access tokens, a JWKS, scheduled key rotation",
    after_help = configuration_help()
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print exactly one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The end of `tokend --help`: where settings come from, and every variable.
fn configuration_help() -> String {
    let mut help = String::from(
        "Configuration: defaults < --config FILE (TOML) < TOKEND_* environment variables\n\
         (nested keys joined by __, e.g. TOKEND_KEYS__ROTATE_EVERY=7d; README.md explains each):",
    );
    let mut line = String::new();
    for name in crate::config::Settings::ENV_VARS {
        if !line.is_empty() && line.len() + name.len() > 76 {
            help.push_str("\n ");
            help.push_str(&line);
            line.clear();
        }
        line.push(' ');
        line.push_str(name);
    }
    help.push_str("\n ");
    help.push_str(&line);
    help
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the HTTP API.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage clients.
    #[command(subcommand)]
    Client(Box<ClientCommand>),
    /// Inspect and rotate signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Work with access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read the audit trail of security events.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Trust providers: foreign issuers whose workload tokens (Kubernetes,
    /// GitHub Actions, SPIFFE, OIDC) get tokens without a client secret.
    #[command(subcommand)]
    Trust(Box<TrustCommand>),
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust an issuer's tokens (then `client bind` says which workloads
    /// become which client).
    Add(TrustAddArgs),
    /// List trust providers.
    List,
    /// Show one trust provider and its bindings.
    Show { name: String },
    /// Change a trust provider; unspecified fields keep their value.
    Update(TrustUpdateArgs),
    /// Remove a trust provider and every binding to it.
    Remove { name: String },
    /// Run every check on a workload token and say which client it would
    /// become (nothing is recorded). Exit 1 when no token would be issued.
    Test {
        name: String,
        /// The workload's JWT, or - to read it from stdin.
        token: String,
        /// The client the request would name (when bound to several).
        #[arg(long, value_name = "ID")]
        client: Option<String>,
    },
}

impl TrustCommand {
    pub fn only_reads(&self) -> bool {
        matches!(
            self,
            TrustCommand::List | TrustCommand::Show { .. } | TrustCommand::Test { .. }
        )
    }
}

#[derive(Debug, Args)]
pub struct TrustAddArgs {
    /// A name for the provider (A-Z a-z 0-9 . _ -).
    pub name: String,
    /// The exact `iss` of its tokens (spiffe://TRUST-DOMAIN for --kind spiffe;
    /// default for github-actions: https://token.actions.githubusercontent.com).
    #[arg(long, value_name = "ISS")]
    pub issuer: Option<String>,
    #[command(flatten)]
    pub fields: TrustFields,
}

#[derive(Debug, Args)]
pub struct TrustUpdateArgs {
    pub name: String,
    #[arg(long, value_name = "ISS")]
    pub issuer: Option<String>,
    #[command(flatten)]
    pub fields: TrustFields,
}

/// What `trust add` sets and `trust update` changes.
#[derive(Debug, Args)]
pub struct TrustFields {
    /// Presets: kubernetes (sub system:serviceaccount:NS:NAME), github-actions
    /// (bindings must name repository_owner_id or repository_id), spiffe.
    #[arg(long, value_parser = ["generic", "kubernetes", "github-actions", "spiffe"])]
    pub kind: Option<String>,
    /// Keys from ISS/.well-known/openid-configuration (else RFC 8414
    /// metadata); the default key source.
    #[arg(long, conflicts_with_all = ["jwks_uri", "jwks_file"])]
    pub discovery: bool,
    /// Keys from this JWKS URL (or SPIFFE bundle endpoint).
    #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
    pub jwks_uri: Option<String>,
    /// Keys from this JWKS file, stored in the database.
    #[arg(long, value_name = "FILE")]
    pub jwks_file: Option<PathBuf>,
    /// What the token's aud must contain (repeatable; default: tokend's
    /// issuer and token endpoint URL; on update it replaces them all).
    #[arg(long, value_name = "AUD")]
    pub audience: Vec<String>,
    /// Largest exp − iat accepted (default 1h, at most 24h).
    #[arg(long, value_name = "DURATION")]
    pub max_lifetime: Option<String>,
    /// Require a jti and accept each once, on every replica.
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub single_use: Option<bool>,
    /// PEM CA certificates for the key source's TLS (e.g. an in-cluster
    /// Kubernetes API server's ca.crt); an empty value clears it.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<String>,
    /// A file whose content is sent as a bearer token with each fetch, read
    /// anew each time (a projected service-account token); empty clears it.
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<String>,
    /// Allow http:// URLs (loopback test issuers only).
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub allow_http: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Security events, newest first.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only events older than this event id.
        #[arg(long)]
        before: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its secret once.
    Create(CreateArgs),
    /// List clients.
    List {
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Start after this client id.
        #[arg(long)]
        after: Option<String>,
    },
    /// Show one client.
    Show { id: String },
    /// Change a client; unspecified fields keep their value.
    Update(UpdateArgs),
    /// Refuse tokens to a client (its registration stays).
    Disable { id: String },
    /// Allow a disabled client again.
    Enable { id: String },
    /// Delete a client.
    Delete { id: String },
    /// Let workloads of a trust provider become this client: a token whose
    /// sub matches SUBJECT (and each --claim) gets this client's tokens.
    Bind {
        id: String,
        #[arg(long, value_name = "NAME")]
        provider: String,
        /// `*` matches any run of characters but / and :, `**` anything,
        /// e.g. system:serviceaccount:prod:orders or repo:acme/*:ref:refs/heads/main.
        #[arg(long, value_name = "PATTERN")]
        subject: String,
        /// A further claim that must match (repeatable), e.g.
        /// repository_owner_id=1234.
        #[arg(long, value_name = "NAME=PATTERN")]
        claim: Vec<String>,
    },
    /// Remove a binding.
    Unbind {
        id: String,
        #[arg(long, value_name = "NAME")]
        provider: String,
        #[arg(long, value_name = "PATTERN")]
        subject: String,
    },
    /// Issue a new secret; prints it once.
    RotateSecret {
        id: String,
        /// Keep the old secret working this long (e.g. 24h).
        #[arg(long, value_name = "DURATION")]
        grace: Option<String>,
    },
}

impl ClientCommand {
    /// Commands that only read: they never create or migrate a store.
    pub fn only_reads(&self) -> bool {
        matches!(
            self,
            ClientCommand::List { .. } | ClientCommand::Show { .. }
        )
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Human-readable name.
    #[arg(long)]
    pub name: String,
    /// Client id (1–255 printable ASCII characters); generated when omitted.
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub fields: ClientFields,
    /// The client may not use the client_credentials grant (introspection only).
    #[arg(long)]
    pub no_grant: bool,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub fields: ClientFields,
    /// Remove every audience.
    #[arg(long, conflicts_with = "audience")]
    pub clear_audiences: bool,
}

/// What `client create` sets and `client update` changes.
#[derive(Debug, Args)]
pub struct ClientFields {
    /// Allowed scopes, space-delimited.
    #[arg(long, value_name = "\"a b\"")]
    pub scope: Option<String>,
    /// Scopes granted when a request names none (default: all allowed; on
    /// update an empty string clears it).
    #[arg(long, value_name = "\"a\"")]
    pub default_scope: Option<String>,
    /// Allowed audience (repeatable; on update it replaces them all); tokens
    /// carry all of them unless a request narrows them with `resource`.
    #[arg(long, value_name = "URI")]
    pub audience: Vec<String>,
    /// Token lifetime for this client, capped by tokens.max_ttl (on update an
    /// empty string returns to tokens.ttl).
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Extra claim added to every token (repeatable; on update they replace
    /// the registered ones); JSON values allowed.
    #[arg(long, value_name = "KEY=VALUE")]
    pub claim: Vec<String>,
    /// How the client authenticates (a secret client may use either secret
    /// method; this names its preference).
    /// federated: no secret and no keys, only workload tokens that a
    /// binding matches (`client bind`).
    /// tls_client_auth: a certificate chaining to tls.client_ca_file with
    /// the subject given by --tls-subject-dn, --tls-san-uri or --tls-san-dns.
    /// self_signed_tls_client_auth: the certificate of --tls-cert-file.
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt", "federated", "tls_client_auth", "self_signed_tls_client_auth"])]
    pub auth_method: Option<String>,
    /// The client's public keys (JWKS) for private_key_jwt.
    #[arg(long, value_name = "FILE")]
    pub jwks_file: Option<PathBuf>,
    /// May introspect any token issued here (RFC 7662 §4). Without it a client
    /// sees only its own tokens and tokens whose aud names its id; a
    /// --no-grant client (a resource server) may by default.
    #[arg(long, value_name = "true|false")]
    pub introspect: Option<bool>,
    /// Every token request must carry a DPoP proof (RFC 9449): the client's
    /// tokens are always bound to its key.
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub require_dpop: Option<bool>,
    /// May exchange tokens it received for narrower ones (RFC 8693 token
    /// exchange, grant urn:ietf:params:oauth:grant-type:token-exchange).
    /// Off by default.
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub exchange: Option<bool>,
    /// Token quota: N/m, N/h or N/d (e.g. 100/h); `none` for no quota;
    /// `default` for tokens.default_quota.
    #[arg(long, value_name = "N/m|N/h|N/d|none|default")]
    pub quota: Option<String>,
    /// What happens past the quota: enforce (429, the default) or monitor
    /// (tokens issued, the excess counted and audited once per window).
    #[arg(long, value_parser = ["enforce", "monitor"])]
    pub quota_mode: Option<String>,
    /// tls_client_auth: the certificate's subject DN, RFC 4514
    /// (e.g. "CN=orders,O=Example,C=US").
    #[arg(long, value_name = "DN", group = "tls_subject")]
    pub tls_subject_dn: Option<String>,
    /// tls_client_auth: a URI in the certificate's SAN, e.g. a SPIFFE ID
    /// (spiffe://prod.example/ns/shop/sa/orders).
    #[arg(long, value_name = "URI", group = "tls_subject")]
    pub tls_san_uri: Option<String>,
    /// tls_client_auth: a DNS name in the certificate's SAN.
    #[arg(long, value_name = "NAME", group = "tls_subject")]
    pub tls_san_dns: Option<String>,
    /// self_signed_tls_client_auth: the client's certificate (PEM), matched
    /// by its SHA-256 thumbprint.
    #[arg(long, value_name = "FILE", group = "tls_subject")]
    pub tls_cert_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their state and times.
    List,
    /// Every key with its state and times, and the next planned events.
    Plan,
    /// Whether a verifier that caches the JWKS for DUR regardless of headers
    /// and never refetches on an unknown kid can meet one; exit 1 if so.
    Check {
        /// The verifier's fixed cache time, e.g. 10m (Envoy's default).
        #[arg(long, value_name = "DUR")]
        cache_age: String,
    },
    /// Schedule a rotation: publish the next key now, signing after
    /// keys.publish_ahead. With --now, sign with a new key at once.
    Rotate {
        /// Switch signer immediately (cached verifiers may briefly miss the key).
        #[arg(long)]
        now: bool,
    },
    /// Revoke a key: out of the JWKS at once, its tokens rejected; if it was
    /// signing, another key signs at once.
    Revoke {
        /// The key's id (an RFC 7638 thumbprint; it may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Verify a token and print its claims: against the local keys, or with
    /// --remote as a resource server would (discovery, JWKS, RFC 9068 checks).
    /// Exit status 1 when the token is invalid.
    Verify {
        /// The access token, or - to read it from stdin (keeps it out of the
        /// shell history).
        token: String,
        /// Verify offline from this issuer's published JWKS (RFC 8414
        /// discovery) instead of the local database, e.g. https://tokend.example
        #[arg(long, value_name = "ISSUER")]
        remote: Option<String>,
        /// With --remote: the audience the token must carry (default: any).
        #[arg(long, requires = "remote", value_name = "AUDIENCE")]
        audience: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kid_beginning_with_a_hyphen_is_a_kid_not_a_flag() {
        // RFC 7638 thumbprints are base64url: one in 64 begins with '-'.
        let cli = Cli::try_parse_from(["tokend", "keys", "revoke", "-q3Xk", "--json"]).unwrap();
        assert!(cli.json);
        match cli.command {
            Command::Keys(KeysCommand::Revoke { kid }) => assert_eq!(kid, "-q3Xk"),
            other => panic!("parsed as {other:?}"),
        }
    }
}
