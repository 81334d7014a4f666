//! The command line (SPEC §4). Every command reads the same configuration as
//! `serve` and calls the same `admin` functions as the HTTP API.

use crate::admin::{Admin, ClientUpdate, ClientWithSecret, KeyView, NewClient, ScopesInput};
use crate::app::Application;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Settings, parse_duration};
use crate::store::Store;
use anyhow::{Context, anyhow};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "tokend",
    version,
    about = "OAuth 2.0 client-credentials token service: RFC 9068 JWT access tokens, a JWKS, scheduled key rotation",
    after_help = "Configuration: defaults < --config FILE (TOML) < TOKEND_* environment variables\n(nested keys joined by __, e.g. TOKEND_KEYS__ROTATE_EVERY=7d). See README.md."
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
    /// Allowed scopes, space-delimited.
    #[arg(long, value_name = "\"a b\"")]
    pub scope: Option<String>,
    /// Scopes granted when a request names none (default: all allowed).
    #[arg(long, value_name = "\"a\"")]
    pub default_scope: Option<String>,
    /// Allowed audience (repeatable); tokens carry all of them unless a
    /// request narrows them with `resource` or `audience`.
    #[arg(long, value_name = "URI")]
    pub audience: Vec<String>,
    /// Token lifetime for this client (capped by tokens.max_ttl).
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Extra claim added to every token (repeatable); JSON values allowed.
    #[arg(long, value_name = "KEY=VALUE")]
    pub claim: Vec<String>,
    /// How the client authenticates.
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt"])]
    pub auth_method: Option<String>,
    /// The client's public keys (JWKS) for private_key_jwt.
    #[arg(long, value_name = "FILE")]
    pub jwks_file: Option<PathBuf>,
    /// The client may not use the client_credentials grant (introspection only).
    #[arg(long)]
    pub no_grant: bool,
    /// May introspect any token issued here (RFC 7662 §4). Without it a client
    /// sees only its own tokens and tokens whose aud names its id; a
    /// --no-grant client (a resource server) may by default.
    #[arg(long, value_name = "true|false")]
    pub introspect: Option<bool>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_name = "\"a b\"")]
    pub scope: Option<String>,
    /// Empty string clears it.
    #[arg(long, value_name = "\"a\"")]
    pub default_scope: Option<String>,
    /// Replaces the audiences (repeatable).
    #[arg(long, value_name = "URI")]
    pub audience: Vec<String>,
    /// Remove every audience.
    #[arg(long, conflicts_with = "audience")]
    pub clear_audiences: bool,
    /// Empty string returns to tokens.ttl.
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Replaces the extra claims (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub claim: Vec<String>,
    #[arg(long, value_parser = ["client_secret_basic", "client_secret_post", "private_key_jwt"])]
    pub auth_method: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub jwks_file: Option<PathBuf>,
    /// May introspect any token issued here (RFC 7662 §4).
    #[arg(long, value_name = "true|false")]
    pub introspect: Option<bool>,
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
    Revoke { kid: String },
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

fn parse_claims(pairs: &[String]) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut claims = serde_json::Map::new();
    for pair in pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--claim `{pair}`: expected KEY=VALUE"))?;
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        claims.insert(key.to_owned(), value);
    }
    Ok(claims)
}

fn read_jwks(path: &Option<PathBuf>) -> anyhow::Result<Option<serde_json::Value>> {
    path.as_ref()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--jwks-file {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("--jwks-file {}: not JSON", p.display()))
        })
        .transpose()
}

struct Output {
    json: bool,
}

impl Output {
    fn print<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).expect("output serializes")
            );
        } else {
            println!("{}", human());
        }
    }
}

fn describe_secret(created: &ClientWithSecret) -> String {
    let c = &created.client;
    let mut out = format!("client_id:     {}\n", c.client_id);
    if let Some(secret) = &created.client_secret {
        use secrecy::ExposeSecret;
        out.push_str(&format!(
            "client_secret: {}\n\nThe secret is shown only this once; store it now.",
            secret.expose_secret()
        ));
    }
    out
}

fn describe_client(c: &crate::admin::ClientView) -> String {
    format!(
        "client_id:    {}\nname:         {}\nenabled:      {}\nscopes:       {}\ndefault:      {}\naudiences:    {}\ntoken_ttl:    {}\nauth_method:  {}\ngrant_types:  {}\nclaims:       {}\nupdated_at:   {}",
        c.client_id,
        c.name,
        c.enabled,
        c.scopes,
        c.default_scopes.as_deref().unwrap_or("(all allowed)"),
        if c.audiences.is_empty() {
            "(default audience)".into()
        } else {
            c.audiences.join(" ")
        },
        c.token_ttl.as_deref().unwrap_or("(tokens.ttl)"),
        c.auth_method,
        c.grant_types.join(" "),
        serde_json::Value::Object(c.claims.clone()),
        c.updated_at.to_rfc3339(),
    )
}

fn describe_keys(keys: &[KeyView]) -> String {
    let mut out = format!(
        "{:<44} {:<6} {:<8} {:<25} {:<25}\n",
        "KID", "ALG", "STATE", "ACTIVE FROM", "REMOVAL"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<44} {:<6} {:<8} {:<25} {:<25}\n",
            k.kid,
            k.alg.as_str(),
            serde_json::to_value(k.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            k.active_from.to_rfc3339(),
            k.removal_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "-".into()),
        ));
    }
    out.trim_end().to_owned()
}

/// Runs the parsed command; the exit code says whether it succeeded.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    let out = Output { json: cli.json };
    let clock: SharedClock = Arc::new(SystemClock);
    if !matches!(cli.command, Command::Serve) {
        crate::telemetry::init_quiet(settings.log.format);
        for warning in settings.warnings() {
            tracing::warn!("{warning}");
        }
    }
    match cli.command {
        Command::Serve => {
            crate::telemetry::init(settings.log.format);
            let app = Application::build(settings, clock).await?;
            app.run_until_stopped().await?;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let store = Store::connect(&settings.database_url).await?;
            store.migrate().await?;
            out.print(&serde_json::json!({"migrated": true}), || {
                "migrations applied".into()
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Client(command) => {
            let admin = if command.only_reads() {
                Admin::open_read_only(Arc::new(settings), clock).await?
            } else {
                Admin::open(Arc::new(settings), clock).await?
            };
            client_command(&admin, *command, &out).await
        }
        Command::Keys(command) => {
            let admin = match command {
                KeysCommand::List | KeysCommand::Plan | KeysCommand::Check { .. } => {
                    Admin::open_read_only(Arc::new(settings), clock).await?
                }
                KeysCommand::Rotate { .. } | KeysCommand::Revoke { .. } => {
                    Admin::open(Arc::new(settings), clock).await?
                }
            };
            match command {
                KeysCommand::List => {
                    let keys = admin.list_keys().await?;
                    out.print(&keys, || describe_keys(&keys));
                }
                KeysCommand::Check { cache_age } => {
                    let age =
                        parse_duration(&cache_age).map_err(|e| anyhow!("--cache-age: {e}"))?;
                    let check = admin.check_cache(age).await?;
                    out.print(&check, || match &check.at_risk_from {
                        None => "safe".to_owned(),
                        Some(t) => format!(
                            "at risk from {}{}\nfix: {}",
                            t.to_rfc3339(),
                            check
                                .kid
                                .as_ref()
                                .map(|k| format!(" (key {k})"))
                                .unwrap_or_default(),
                            check.fix.as_deref().unwrap_or_default()
                        ),
                    });
                    if !check.safe {
                        return Ok(ExitCode::from(1));
                    }
                }
                KeysCommand::Plan => {
                    let plan = admin.key_plan().await?;
                    out.print(&plan, || {
                        let fmt = |t: Option<chrono::DateTime<chrono::Utc>>| {
                            t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
                        };
                        format!(
                            "{}\n\nnext key published: {}\nnext rotation:      {}\nnext removal:       {}",
                            describe_keys(&plan.keys),
                            plan.next.key_published_at.to_rfc3339(),
                            plan.next.rotation_at.to_rfc3339(),
                            fmt(plan.next.removal_at),
                        )
                    });
                }
                KeysCommand::Rotate { now } => {
                    let rotation = admin.rotate_keys(now).await?;
                    if let (true, Some(warning)) = (out.json, &rotation.warning) {
                        eprintln!("warning: {warning}");
                    }
                    out.print(&rotation, || {
                        let k = &rotation.key;
                        let mut s = match &rotation.note {
                            Some(note) => note.clone(),
                            None if now => format!("key {} ({}) signs now", k.kid, k.alg),
                            None => format!(
                                "key {} ({}) published; it signs from {}",
                                k.kid,
                                k.alg,
                                k.active_from.to_rfc3339()
                            ),
                        };
                        if let Some(warning) = &rotation.warning {
                            s.push_str(&format!("\nwarning: {warning}"));
                        }
                        s
                    });
                }
                KeysCommand::Revoke { kid } => {
                    let keys = admin.revoke_key(&kid).await?;
                    out.print(&keys, || {
                        format!("key {kid} revoked\n{}", describe_keys(&keys))
                    });
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::List { limit, before }) => {
            let admin = Admin::open_read_only(Arc::new(settings), clock).await?;
            let events = admin.audit_events(limit, before).await?;
            out.print(&events, || {
                let mut s = format!(
                    "{:<6} {:<25} {:<22} {:<26} {}\n",
                    "ID", "AT", "ACTOR", "ACTION", "SUBJECT"
                );
                for e in &events {
                    let at = chrono::DateTime::from_timestamp(e.at, 0)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default();
                    s.push_str(&format!(
                        "{:<6} {:<25} {:<22} {:<26} {} {}\n",
                        e.id, at, e.actor, e.action, e.subject, e.details
                    ));
                }
                s.trim_end().to_owned()
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Verify {
            token,
            remote,
            audience,
        }) => {
            let token = if token == "-" {
                let mut buf = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)?;
                buf
            } else {
                token
            };
            if let Some(issuer) = remote {
                return verify_remote(&issuer, audience, token.trim(), &settings, &out).await;
            }
            let admin = Admin::open_read_only(Arc::new(settings.clone()), clock.clone()).await?;
            let issuer = settings.issuer_for(settings.listen_addr()?);
            let ring = admin.load_ring_read_only().await?;
            let leeway = settings.tokens.leeway.as_secs() as i64;
            match ring.verify(token.trim(), &issuer, clock.now().timestamp(), leeway) {
                Ok(claims) => {
                    out.print(
                        &serde_json::json!({"valid": true, "claims": claims}),
                        || {
                            format!(
                                "valid\n{}",
                                serde_json::to_string_pretty(&claims).expect("claims serialize")
                            )
                        },
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    out.print(
                        &serde_json::json!({"valid": false, "reason": e.to_string()}),
                        || format!("invalid: {e}"),
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// `token verify --remote`: the resource-server path of tokend-verify.
async fn verify_remote(
    issuer: &str,
    audience: Option<String>,
    token: &str,
    settings: &Settings,
    out: &Output,
) -> anyhow::Result<ExitCode> {
    let builder = tokend_verify::Verifier::builder(issuer).leeway(settings.tokens.leeway);
    let builder = match audience {
        Some(audience) => builder.audience(audience),
        None => builder.any_audience(),
    };
    let verifier = builder.build()?;
    match verifier.verify(token).await {
        Ok(verified) => {
            let claims = verified.claims();
            out.print(
                &serde_json::json!({
                    "valid": true, "kid": verified.kid, "alg": verified.algorithm.name(), "claims": claims,
                }),
                || {
                    format!(
                        "valid (kid {}, {})\n{}",
                        verified.kid,
                        verified.algorithm,
                        serde_json::to_string_pretty(&claims).expect("claims serialize")
                    )
                },
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(tokend_verify::VerifyError::KeysUnavailable(why)) => {
            Err(anyhow!("cannot fetch the keys of {issuer}: {why}"))
        }
        Err(e) => {
            out.print(
                &serde_json::json!({"valid": false, "reason": e.to_string()}),
                || format!("invalid: {e}"),
            );
            Ok(ExitCode::from(1))
        }
    }
}

async fn client_command(
    admin: &Admin,
    command: ClientCommand,
    out: &Output,
) -> anyhow::Result<ExitCode> {
    match command {
        ClientCommand::Create(args) => {
            let created = admin
                .create_client(NewClient {
                    name: args.name,
                    client_id: args.id,
                    scopes: ScopesInput::Text(args.scope.unwrap_or_default()),
                    default_scopes: args.default_scope.map(ScopesInput::Text),
                    audiences: args.audience,
                    token_ttl: args.ttl,
                    claims: parse_claims(&args.claim)?,
                    auth_method: args.auth_method,
                    jwks: read_jwks(&args.jwks_file)?,
                    grant_types: args.no_grant.then(Vec::new),
                    may_introspect: args.introspect,
                })
                .await?;
            out.print(&created, || describe_secret(&created));
        }
        ClientCommand::List { limit, after } => {
            let page = admin.list_clients(after.as_deref(), limit).await?;
            out.print(&page, || {
                let mut s = format!("{:<40} {:<8} {}\n", "CLIENT_ID", "ENABLED", "NAME");
                for c in &page.clients {
                    s.push_str(&format!(
                        "{:<40} {:<8} {}\n",
                        c.client_id, c.enabled, c.name
                    ));
                }
                if let Some(next) = &page.next {
                    s.push_str(&format!("(more: --after {next})\n"));
                }
                s.trim_end().to_owned()
            });
        }
        ClientCommand::Show { id } => {
            let c = admin.get_client(&id).await?;
            out.print(&c, || describe_client(&c));
        }
        ClientCommand::Update(args) => {
            let audiences = if args.clear_audiences {
                Some(Vec::new())
            } else {
                (!args.audience.is_empty()).then_some(args.audience)
            };
            let c = admin
                .update_client(
                    &args.id,
                    ClientUpdate {
                        name: args.name,
                        scopes: args.scope.map(ScopesInput::Text),
                        default_scopes: args.default_scope.map(ScopesInput::Text),
                        audiences,
                        token_ttl: args.ttl,
                        claims: if args.claim.is_empty() {
                            None
                        } else {
                            Some(parse_claims(&args.claim)?)
                        },
                        auth_method: args.auth_method,
                        jwks: read_jwks(&args.jwks_file)?,
                        may_introspect: args.introspect,
                        ..ClientUpdate::default()
                    },
                )
                .await?;
            out.print(&c, || describe_client(&c));
        }
        ClientCommand::Disable { id } => {
            let c = admin.set_client_enabled(&id, false).await?;
            out.print(&c, || format!("client {} disabled", c.client_id));
        }
        ClientCommand::Enable { id } => {
            let c = admin.set_client_enabled(&id, true).await?;
            out.print(&c, || format!("client {} enabled", c.client_id));
        }
        ClientCommand::Delete { id } => {
            admin.delete_client(&id).await?;
            out.print(&serde_json::json!({"deleted": id}), || {
                format!("client {id} deleted")
            });
        }
        ClientCommand::RotateSecret { id, grace } => {
            let grace = grace
                .as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| anyhow!("--grace: {e}"))?;
            let rotated = admin.rotate_secret(&id, grace).await?;
            out.print(&rotated, || {
                let mut s = describe_secret(&rotated);
                if let Some(until) = rotated.client.previous_secret_valid_until {
                    s.push_str(&format!(
                        "\nThe previous secret keeps working until {}.",
                        until.to_rfc3339()
                    ));
                }
                s
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
