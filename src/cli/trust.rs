//! `tokend trust …` and `tokend client bind|unbind` (SPEC §8).

use super::render::Output;
use super::{TrustCommand, TrustFields};
use crate::admin::{
    Admin, BindingView, NewBinding, NewTrustProvider, TrustProviderUpdate, TrustProviderView,
};
use anyhow::{Context, anyhow};
use std::collections::BTreeMap;
use std::process::ExitCode;

fn read_jwks_file(fields: &TrustFields) -> anyhow::Result<Option<serde_json::Value>> {
    super::render::read_jwks(&fields.jwks_file)
}

pub(super) fn read_token(token: String) -> anyhow::Result<String> {
    if token == "-" {
        let mut buf = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)
            .context("reading the token from stdin")?;
        Ok(buf.trim().to_owned())
    } else {
        Ok(token.trim().to_owned())
    }
}

fn describe_bindings(bindings: &[BindingView]) -> String {
    if bindings.is_empty() {
        return "bindings:     (none)".into();
    }
    let mut s = String::from("bindings:");
    for b in bindings {
        s.push_str(&format!(
            "\n  client {} ← {} subject {}",
            b.client_id, b.provider, b.subject
        ));
        for (name, pattern) in &b.claims {
            s.push_str(&format!(" {name}={pattern}"));
        }
    }
    s
}

pub(super) fn describe_client_bindings(bindings: &[BindingView]) -> String {
    describe_bindings(bindings)
}

fn describe_provider(p: &TrustProviderView) -> String {
    let audiences = if p.audiences.is_empty() {
        "(tokend's issuer and token endpoint)".to_owned()
    } else {
        p.audiences.join(", ")
    };
    format!(
        "name:         {}\nissuer:       {}\nkind:         {}\nkeys:         {}{}\naudiences:    {}\nmax_lifetime: {}\nsingle_use:   {}\n{}",
        p.name,
        p.issuer,
        p.kind,
        p.key_source,
        p.jwks_uri
            .as_ref()
            .map(|u| format!(" {u}"))
            .unwrap_or_default(),
        audiences,
        p.max_lifetime,
        p.single_use,
        describe_bindings(&p.bindings),
    )
}

pub(super) async fn trust_command(
    admin: &Admin,
    command: TrustCommand,
    issuer: &str,
    out: &Output,
) -> anyhow::Result<ExitCode> {
    match command {
        TrustCommand::Add(args) => {
            let f = args.fields;
            let p = admin
                .add_trust_provider(NewTrustProvider {
                    name: args.name,
                    issuer: args.issuer,
                    kind: f.kind.clone(),
                    discovery: f.discovery.then_some(true),
                    jwks_uri: f.jwks_uri.clone(),
                    jwks: read_jwks_file(&f)?,
                    audiences: f.audience.clone(),
                    max_lifetime: f.max_lifetime.clone(),
                    single_use: f.single_use,
                    ca_file: f.ca_file.clone(),
                    bearer_token_file: f.bearer_token_file.clone(),
                    allow_http: f.allow_http,
                })
                .await?;
            out.print(&p, || {
                format!(
                    "{}\n\nNext: tokend client bind CLIENT_ID --provider {} --subject PATTERN",
                    describe_provider(&p),
                    p.name
                )
            });
        }
        TrustCommand::List => {
            let all = admin.list_trust_providers().await?;
            out.print(&all, || {
                let mut s = format!(
                    "{:<20} {:<15} {:<9} {}\n",
                    "NAME", "KIND", "BINDINGS", "ISSUER"
                );
                for p in &all {
                    s.push_str(&format!(
                        "{:<20} {:<15} {:<9} {}\n",
                        p.name,
                        p.kind.as_str(),
                        p.bindings.len(),
                        p.issuer
                    ));
                }
                s.trim_end().to_owned()
            });
        }
        TrustCommand::Show { name } => {
            let p = admin.get_trust_provider(&name).await?;
            out.print(&p, || describe_provider(&p));
        }
        TrustCommand::Update(args) => {
            let f = args.fields;
            let p = admin
                .update_trust_provider(
                    &args.name,
                    TrustProviderUpdate {
                        issuer: args.issuer,
                        kind: f.kind.clone(),
                        discovery: f.discovery.then_some(true),
                        jwks_uri: f.jwks_uri.clone(),
                        jwks: read_jwks_file(&f)?,
                        audiences: (!f.audience.is_empty()).then(|| f.audience.clone()),
                        max_lifetime: f.max_lifetime.clone(),
                        single_use: f.single_use,
                        ca_file: f.ca_file.clone(),
                        bearer_token_file: f.bearer_token_file.clone(),
                        allow_http: f.allow_http,
                    },
                )
                .await?;
            out.print(&p, || describe_provider(&p));
        }
        TrustCommand::Remove { name } => {
            let bindings = admin.remove_trust_provider(&name).await?;
            out.print(
                &serde_json::json!({"removed": name, "bindings_removed": bindings}),
                || format!("trust provider {name} removed, with {bindings} binding(s)"),
            );
        }
        TrustCommand::Test {
            name,
            token,
            client,
        } => {
            let token = read_token(token)?;
            let report = admin
                .test_trust_token(&name, &token, client.as_deref(), issuer)
                .await?;
            out.print(&report, || {
                let mut s = String::new();
                for c in &report.checks {
                    let mark = if c.ok { "ok  " } else { "FAIL" };
                    s.push_str(&format!("{mark} {:<9} {}\n", c.check, c.detail));
                }
                if let Some(claims) = &report.claims {
                    s.push_str(&format!(
                        "\nclaims: {}\n",
                        serde_json::to_string_pretty(claims).unwrap_or_default()
                    ));
                }
                if !report.bindings.is_empty() {
                    s.push_str("\nbindings:\n");
                    for b in &report.bindings {
                        s.push_str(&format!(
                            "  {} client {} subject {}{}\n",
                            if b.matches { "match   " } else { "no match" },
                            b.client_id,
                            b.subject,
                            b.why_not
                                .as_ref()
                                .map(|w| format!(": {w}"))
                                .unwrap_or_default()
                        ));
                    }
                }
                match (&report.client_id, &report.error) {
                    (Some(c), None) => {
                        s.push_str(&format!("\na token would be issued to client {c}"))
                    }
                    (_, Some(e)) => s.push_str(&format!("\nno token would be issued: {e}")),
                    (None, None) => {}
                }
                s
            });
            if !report.would_issue {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn bind(
    admin: &Admin,
    id: String,
    provider: String,
    subject: String,
    claim: Vec<String>,
    out: &Output,
) -> anyhow::Result<()> {
    let mut claims = BTreeMap::new();
    for pair in &claim {
        let (name, pattern) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--claim `{pair}`: expected NAME=PATTERN"))?;
        claims.insert(name.to_owned(), pattern.to_owned());
    }
    let b = admin
        .bind_client(
            &id,
            NewBinding {
                provider,
                subject,
                claims,
            },
        )
        .await?;
    out.print(&b, || {
        format!(
            "client {} now accepts workload tokens of {} with subject {}",
            b.client_id, b.provider, b.subject
        )
    });
    Ok(())
}
