//! The audit page: the trail, newest first, filtered by action and subject.

use super::pages::{Chrome, admin_error, render};
use super::session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

struct EventRow {
    at: String,
    actor: String,
    action: String,
    subject: String,
    details: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct Audit {
    chrome: Chrome,
    action: String,
    subject: String,
    events: Vec<EventRow>,
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
}

pub async fn audit(session: Session, query: web::Query<AuditQuery>) -> HttpResponse {
    let q = query.into_inner();
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    match session
        .admin
        .audit_events_matching(
            200,
            None,
            some(&q.action).as_deref(),
            some(&q.subject).as_deref(),
        )
        .await
    {
        Ok(events) => render(
            StatusCode::OK,
            &Audit {
                chrome: Chrome::of(&session, "audit"),
                events: events
                    .into_iter()
                    .map(|e| EventRow {
                        at: chrono::DateTime::from_timestamp(e.at, 0)
                            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_default(),
                        actor: e.actor,
                        action: e.action,
                        subject: e.subject,
                        details: e.details.to_string(),
                    })
                    .collect(),
                action: q.action,
                subject: q.subject,
            },
        ),
        Err(e) => admin_error(Chrome::of(&session, "audit"), &e),
    }
}
