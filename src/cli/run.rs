//! Runs a parsed command against the environment the configuration names.

use super::client::client_command;
use super::render::*;
use super::*;
use crate::admin::Admin;
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
