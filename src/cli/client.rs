//! `tokend client …`: create, list, show, update, enable/disable, delete,
//! rotate the secret, bind and unbind, each through the admin functions.

use super::render::*;
use super::*;
use crate::admin::{Admin, ClientUpdate, NewClient, ScopesInput};
use crate::config::parse_duration;
use anyhow::anyhow;
use std::process::ExitCode;

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

pub(super) async fn client_command(
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
