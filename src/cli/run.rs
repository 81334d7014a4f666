//! Runs a parsed command against the environment the configuration names.

use super::render::*;
use super::*;
use crate::admin::{Admin, ClientUpdate, NewClient, ScopesInput};
use crate::app::Application;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Settings, parse_duration};
use anyhow::anyhow;
use std::process::ExitCode;
use std::sync::Arc;

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
            let _log = crate::telemetry::init(settings.log.format);
            let app = Application::build(settings, clock).await?;
            app.run_until_stopped().await?;
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            crate::admin::migrate(&settings).await?;
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
        Command::Trust(command) => {
            let issuer = settings.issuer_for(settings.listen_addr()?);
            let admin = if command.only_reads() {
                Admin::open_read_only(Arc::new(settings), clock).await?
            } else {
                Admin::open(Arc::new(settings), clock).await?
            };
            super::trust::trust_command(&admin, *command, &issuer, &out).await
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
            let token = super::trust::read_token(token)?;
            if let Some(issuer) = remote {
                return verify_remote(&issuer, audience, token.trim(), &settings, &out).await;
            }
            let admin = Admin::open_read_only(Arc::new(settings.clone()), clock.clone()).await?;
            let issuer = settings.issuer_for(settings.listen_addr()?);
            let ring = admin.load_ring_read_only().await?;
            let leeway = settings.tokens.leeway.as_secs() as i64;
            match ring.verify(token.trim(), &issuer, clock.now().timestamp(), leeway) {
                Ok(claims) => {
                    let (binding, line) = describe_binding(&serde_json::json!(claims));
                    out.print(
                        &serde_json::json!({"valid": true, "binding": binding, "claims": claims}),
                        || {
                            format!(
                                "valid, {line}\n{}",
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
            let (binding, line) = describe_binding(&serde_json::json!(claims));
            out.print(
                &serde_json::json!({
                    "valid": true, "kid": verified.kid, "alg": verified.algorithm.name(),
                    "binding": binding, "claims": claims,
                }),
                || {
                    format!(
                        "valid (kid {}, {}), {line}\n{}",
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

/// The grant types of a client with or without client_credentials and
/// token exchange.
fn grant_list(client_credentials: bool, exchange: Option<bool>) -> Vec<String> {
    let mut grants = Vec::new();
    if client_credentials {
        grants.push("client_credentials".to_owned());
    }
    if exchange == Some(true) {
        grants.push(crate::admin::TOKEN_EXCHANGE_GRANT.to_owned());
    }
    grants
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
                    scopes: ScopesInput::Text(args.fields.scope.unwrap_or_default()),
                    default_scopes: args.fields.default_scope.map(ScopesInput::Text),
                    audiences: args.fields.audience,
                    token_ttl: args.fields.ttl,
                    claims: parse_claims(&args.fields.claim)?,
                    auth_method: args.fields.auth_method,
                    jwks: read_jwks(&args.fields.jwks_file)?,
                    grant_types: Some(grant_list(!args.no_grant, args.fields.exchange)),
                    may_introspect: args.fields.introspect,
                    require_dpop: args.fields.require_dpop,
                    quota: args.fields.quota,
                    quota_mode: args.fields.quota_mode,
                    tls_client_auth_subject_dn: args.fields.tls_subject_dn,
                    tls_client_auth_san_uri: args.fields.tls_san_uri,
                    tls_client_auth_san_dns: args.fields.tls_san_dns,
                    tls_client_certificate: read_text_file(&args.fields.tls_cert_file)?,
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
            let bindings = admin.client_bindings(&id).await?;
            #[derive(serde::Serialize)]
            struct Shown<'a> {
                #[serde(flatten)]
                client: &'a crate::admin::ClientView,
                bindings: &'a [crate::admin::BindingView],
            }
            out.print(
                &Shown {
                    client: &c,
                    bindings: &bindings,
                },
                || {
                    format!(
                        "{}
{}",
                        describe_client(&c),
                        super::trust::describe_client_bindings(&bindings)
                    )
                },
            );
        }
        ClientCommand::Bind {
            id,
            provider,
            subject,
            claim,
        } => super::trust::bind(admin, id, provider, subject, claim, out).await?,
        ClientCommand::Unbind {
            id,
            provider,
            subject,
        } => {
            admin.unbind_client(&id, &provider, &subject).await?;
            out.print(
                &serde_json::json!({"unbound": id, "provider": provider, "subject": subject}),
                || format!("binding of client {id} to {provider} for {subject} removed"),
            );
        }
        ClientCommand::Update(args) => {
            let f = args.fields;
            let audiences = if args.clear_audiences {
                Some(Vec::new())
            } else {
                (!f.audience.is_empty()).then_some(f.audience)
            };
            let grant_types = match f.exchange {
                Some(exchange) => {
                    let current = admin.get_client(&args.id).await?;
                    let cc = current.grant_types.contains(&"client_credentials");
                    Some(grant_list(cc, Some(exchange)))
                }
                None => None,
            };
            let c = admin
                .update_client(
                    &args.id,
                    ClientUpdate {
                        grant_types,
                        quota: f.quota,
                        quota_mode: f.quota_mode,
                        name: args.name,
                        scopes: f.scope.map(ScopesInput::Text),
                        default_scopes: f.default_scope.map(ScopesInput::Text),
                        audiences,
                        token_ttl: f.ttl,
                        claims: if f.claim.is_empty() {
                            None
                        } else {
                            Some(parse_claims(&f.claim)?)
                        },
                        auth_method: f.auth_method,
                        jwks: read_jwks(&f.jwks_file)?,
                        may_introspect: f.introspect,
                        require_dpop: f.require_dpop,
                        tls_client_auth_subject_dn: f.tls_subject_dn,
                        tls_client_auth_san_uri: f.tls_san_uri,
                        tls_client_auth_san_dns: f.tls_san_dns,
                        tls_client_certificate: read_text_file(&f.tls_cert_file)?,
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
