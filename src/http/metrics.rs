//! `GET /metrics`: Prometheus text format. Gauges that follow from the key
//! ring and the plan are computed at scrape time.

use crate::keys::plan;
use crate::state::AppState;
use actix_web::{HttpResponse, web};

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let now = state.now();
    let ring = state.ring.load();
    let records = ring.records();
    let m = &state.metrics;
    if let Some(active) = plan::active(now, records) {
        m.signing_key_age.set((now - active.activates_at) as f64);
    }
    m.keys_published
        .set(plan::published(records).count() as i64);
    m.registered_clients.set(state.clients.len() as i64);
    m.deny_list_entries.set(state.deny.len() as i64);
    let bound = state.settings().keys.jwks_max_age.as_secs();
    m.jwks_max_age.set(ring.jwks_max_age(now, bound) as i64);
    let next = plan::next_events(now, records, &state.admin.rotation_policy());
    m.next_key_publication.set(next.publication);
    m.next_rotation.set(next.rotation);
    m.next_key_removal.set(next.removal.unwrap_or(0));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render())
}
