//! The admin API under /admin: bearer tokens with the admin scope, client
//! CRUD with pagination, secret rotation with a grace period, key operations.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

struct Admin<'a> {
    app: &'a TestApp,
    bearer: String,
}

impl<'a> Admin<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let ops = app.simple_client("ops", "tokend:admin").await;
        let bearer = app.access_token(&ops).await;
        Self { app, bearer }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .http
            .request(method, format!("{}/admin{path}", self.app.address))
            .bearer_auth(&self.bearer)
    }
}

fn enc(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[tokio::test]
async fn admin_needs_a_valid_bearer_token_with_the_admin_scope() {
    let app = spawn_app().await;
    let url = format!("{}/admin/clients", app.address);
    let resp = app.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    let resp = app
        .http
        .get(&url)
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let reader = app.simple_client("reader", "read").await;
    let token = app.access_token(&reader).await;
    let resp = app.http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    // A token of another tokend with the right scope is still refused.
    let other = spawn_app().await;
    let foreign_ops = other.simple_client("ops", "tokend:admin").await;
    let foreign = other.access_token(&foreign_ops).await;
    let resp = app
        .http
        .get(&url)
        .bearer_auth(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // A revoked admin token stops working.
    let ops = app.simple_client("ops", "tokend:admin").await;
    let token = app.access_token(&ops).await;
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    app.post_form(
        "/revoke",
        Some(&basic(&ops.id, &ops.secret)),
        &format!("token={token}"),
    )
    .await;
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
}

#[tokio::test]
async fn clients_crud_with_pagination_and_no_secret_on_read() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let resp = admin
        .req(reqwest::Method::POST, "/clients")
        .json(&json!({
            "name": "Billing",
            "client_id": "svc:billing/prod",
            "scopes": "invoices:read invoices:write",
            "default_scopes": "invoices:read",
            "audiences": ["https://billing.example"],
            "token_ttl": "10m",
            "claims": {"tenant": "acme"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let created: serde_json::Value = resp.json().await.unwrap();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["client_id"], "svc:billing/prod");

    // The new client gets tokens within 2 s.
    let client = TestClient {
        id: "svc:billing/prod".into(),
        secret: secret.clone(),
    };
    assert!(
        eventually(Duration::from_secs(2), || async {
            app.token_for(&client, "grant_type=client_credentials")
                .await
                .status()
                .as_u16()
                == 200
        })
        .await
    );

    let path = format!("/clients/{}", enc("svc:billing/prod"));
    let resp = admin.req(reqwest::Method::GET, &path).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(&secret), "{text}");
    let shown: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(shown.get("client_secret").is_none());
    assert_eq!(shown["token_ttl"], "10m");
    assert_eq!(shown["default_scopes"], "invoices:read");

    let resp = admin
        .req(reqwest::Method::PATCH, &path)
        .json(&json!({"scopes": "invoices:read", "default_scopes": "", "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let updated: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(updated["scopes"], "invoices:read");
    assert_eq!(updated["enabled"], false);
    assert!(updated["default_scopes"].is_null());
    assert!(
        eventually(Duration::from_secs(2), || async {
            app.token_for(&client, "grant_type=client_credentials")
                .await
                .status()
                .as_u16()
                == 401
        })
        .await,
        "a client disabled through the API is refused within 2 s"
    );

    // Bad input: 400 with a JSON error, never a 500.
    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "scopes": "a\"b"}),
        json!({"name": "x", "claims": {"sub": "root"}}),
        json!({"name": "x", "unknown_field": 1}),
        json!({"name": "x", "token_ttl": "soon"}),
        json!({"name": "x", "auth_method": "private_key_jwt"}),
    ] {
        let resp = admin
            .req(reqwest::Method::POST, "/clients")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{bad}");
    }
    let resp = admin
        .req(reqwest::Method::POST, "/clients")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Duplicate id: 409.
    let resp = admin
        .req(reqwest::Method::POST, "/clients")
        .json(&json!({"name": "again", "client_id": "svc:billing/prod"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);

    // Pagination: ops, svc:billing/prod, and five more, two at a time.
    for i in 0..5 {
        admin
            .req(reqwest::Method::POST, "/clients")
            .json(&json!({"name": format!("c{i}"), "client_id": format!("c{i}")}))
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut req = admin
            .req(reqwest::Method::GET, "/clients")
            .query(&[("limit", "2")]);
        if let Some(a) = &after {
            req = req.query(&[("after", a)]);
        }
        let page: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
        let clients = page["clients"].as_array().unwrap();
        assert!(clients.len() <= 2);
        seen.extend(
            clients
                .iter()
                .map(|c| c["client_id"].as_str().unwrap().to_owned()),
        );
        assert!(clients.iter().all(|c| c.get("client_secret").is_none()));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");

    let resp = admin
        .req(reqwest::Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let resp = admin.req(reqwest::Method::GET, &path).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = admin
        .req(reqwest::Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn secret_rotation_with_a_grace_period() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let old = app.simple_client("rotating", "read").await;
    let resp = admin
        .req(reqwest::Method::POST, "/clients/rotating/secret")
        .json(&json!({"grace": "3s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let new = TestClient {
        id: "rotating".into(),
        secret: body["client_secret"].as_str().unwrap().to_owned(),
    };
    assert!(body["previous_secret_valid_until"].is_string());
    assert!(
        eventually(Duration::from_secs(2), || async {
            app.token_for(&new, "grant_type=client_credentials")
                .await
                .status()
                .as_u16()
                == 200
        })
        .await
    );
    assert_eq!(
        app.token_for(&old, "grant_type=client_credentials")
            .await
            .status()
            .as_u16(),
        200,
        "the old secret works during the grace period"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.token_for(&old, "grant_type=client_credentials")
                .await
                .status()
                .as_u16()
                == 401
        })
        .await,
        "the old secret fails after the grace period"
    );
    assert_eq!(
        app.token_for(&new, "grant_type=client_credentials")
            .await
            .status()
            .as_u16(),
        200
    );

    // Without a grace period the old secret stops at once.
    let resp = admin
        .req(reqwest::Method::POST, "/clients/rotating/secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        eventually(Duration::from_secs(2), || async {
            app.token_for(&new, "grant_type=client_credentials")
                .await
                .status()
                .as_u16()
                == 401
        })
        .await
    );
}

#[tokio::test]
async fn key_operations_through_the_api() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let keys: serde_json::Value = admin
        .req(reqwest::Method::GET, "/keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert!(!keys.to_string().contains("\"d\""));

    let resp = admin
        .req(reqwest::Method::POST, "/keys/rotate")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let rotation: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(rotation["key"]["state"], "next");

    let plan: serde_json::Value = admin
        .req(reqwest::Method::GET, "/keys/plan")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plan["keys"].as_array().unwrap().len(), 2);
    assert_eq!(plan["next"]["rotation_at"], rotation["key"]["active_from"]);

    let kid = rotation["key"]["kid"].as_str().unwrap();
    let resp = admin
        .req(reqwest::Method::POST, &format!("/keys/{kid}/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = admin
        .req(reqwest::Method::POST, &format!("/keys/{kid}/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);
    let resp = admin
        .req(reqwest::Method::POST, "/keys/nope/revoke")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let resp = admin
        .req(reqwest::Method::POST, "/keys/rotate")
        .json(&json!({"now": true}))
        .send()
        .await
        .unwrap();
    let rotation: serde_json::Value = resp.json().await.unwrap();
    let state = rotation["key"]["state"].as_str().unwrap();
    assert!(
        state == "active" || state == "next",
        "signs within the second: {state}"
    );
    assert!(rotation["warning"].is_string());
}

/// SPEC §7: a body that does not parse, a field of the wrong type, an unknown
/// field or the wrong content type is 400 naming the field, never taken as
/// empty; an empty body means the defaults; authentication comes first.
#[tokio::test]
async fn malformed_admin_bodies_are_refused_naming_the_field_and_never_taken_as_empty() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let svc = app.simple_client("svc", "read").await;
    let post = reqwest::Method::POST;
    for (path, body, field) in [
        ("/clients/svc/secret", json!({"grace": 86400}), "grace"),
        ("/clients/svc/secret", json!({"grce": "24h"}), "grce"),
        ("/clients/svc/secret", json!({"grace": {}}), "grace"),
        ("/keys/rotate", json!({"now": "true"}), "now"),
        ("/clients", json!({"name": "x", "scopes": 5}), "scopes"),
        ("/clients", json!({"name": "x", "audience": []}), "audience"),
        // Durations past 100 years are refused, never wrapped or panicking.
        (
            "/clients/svc/secret",
            json!({"grace": "100000000d"}),
            "grace",
        ),
        (
            "/clients/svc/secret",
            json!({"grace": "18446744073709551615"}),
            "grace",
        ),
        (
            "/clients",
            json!({"name": "x", "token_ttl": "18446744073709551615"}),
            "token_ttl",
        ),
    ] {
        let resp = admin
            .req(post.clone(), path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{path} {body}");
        let out: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(out["error"], "invalid_request");
        let description = out["error_description"].as_str().unwrap();
        assert!(description.contains(field), "{path} {body}: {description}");
    }
    // Not JSON at all, and JSON sent as text/plain.
    let resp = admin
        .req(post.clone(), "/clients/svc/secret")
        .header("Content-Type", "application/json")
        .body("{grace:")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let resp = admin
        .req(post.clone(), "/clients/svc/secret")
        .header("Content-Type", "text/plain")
        .body(r#"{"grace": "24h"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // None of that touched the secret.
    assert_eq!(
        app.token_for(&svc, "grant_type=client_credentials")
            .await
            .status()
            .as_u16(),
        200
    );

    // An empty body means the defaults: a rotation without grace.
    let resp = admin
        .req(post.clone(), "/clients/svc/secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    // Authentication comes before the body: 401, not 400.
    for path in ["/clients", "/keys/rotate", "/clients/svc/secret"] {
        let resp = app
            .http
            .post(format!("{}/admin{path}", app.address))
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{path}");
    }
    // limit outside 1–1000 is refused, not clamped.
    for limit in ["0", "1001", "x"] {
        let resp = admin
            .req(reqwest::Method::GET, &format!("/clients?limit={limit}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "limit={limit}");
    }
}

/// An admin token must name the issuer as its only audience: a token that
/// also names another API could be replayed here by that API.
#[tokio::test]
async fn an_admin_token_with_another_audience_is_refused() {
    let app = spawn_app().await;
    let wide = app
        .create_client(tokend::admin::NewClient {
            name: "wide".into(),
            client_id: Some("wide".into()),
            scopes: tokend::admin::ScopesInput::Text("tokend:admin".into()),
            audiences: vec![app.issuer.clone(), "https://api.example".into()],
            ..tokend::admin::NewClient::default()
        })
        .await;
    let url = format!("{}/admin/clients", app.address);
    let both = app.access_token(&wide).await;
    let resp = app.http.get(&url).bearer_auth(&both).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("only audience")
    );
    // Narrowed to the issuer with `resource`, the same client may.
    let narrow: serde_json::Value = app
        .token_for(
            &wide,
            &format!(
                "grant_type=client_credentials&resource={}",
                form_urlencoded::byte_serialize(app.issuer.as_bytes()).collect::<String>()
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    let resp = app
        .http
        .get(&url)
        .bearer_auth(narrow["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// After `POST /admin/keys/{kid}/revoke` answers, no new token of this
/// replica carries the revoked kid, and its JWKS no longer lists it.
#[tokio::test]
async fn revocation_through_the_api_is_immediate_on_this_replica() {
    let app = spawn_app().await;
    let admin = Admin::new(&app).await;
    let svc = app.simple_client("svc", "read").await;
    let before = app.access_token(&svc).await;
    let kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    let resp = admin
        .req(reqwest::Method::POST, &format!("/keys/{kid}/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    for _ in 0..50 {
        let t = app.access_token(&svc).await;
        assert_ne!(jsonwebtoken::decode_header(&t).unwrap().kid.unwrap(), kid);
    }
    let jwks = app.jwks().await;
    assert!(jwks.find(&kid).is_none());
}

/// Extra claims are capped at 4 KiB and may not take the names token
/// exchange and OpenID use (`act`, `may_act`, `azp`).
#[tokio::test]
async fn extra_claims_are_capped_and_reserved_names_refused() {
    let app = spawn_app().await;
    for (claims, needle) in [
        (json!({"act": {"sub": "x"}}), "act"),
        (json!({"may_act": {"sub": "x"}}), "may_act"),
        (json!({"azp": "x"}), "azp"),
        (json!({"blob": "x".repeat(5000)}), "4096"),
    ] {
        let err = app
            .admin()
            .create_client(tokend::admin::NewClient {
                name: "c".into(),
                claims: claims.as_object().unwrap().clone(),
                ..tokend::admin::NewClient::default()
            })
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains(needle), "{err}");
    }
}
