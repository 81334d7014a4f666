//! POST /introspect (RFC 7662) and POST /revoke (RFC 7009).

use crate::helpers::*;
use std::sync::Arc;
use std::time::Duration;
use tokend::clock::ManualClock;

impl TestApp {
    pub async fn post_form(
        &self,
        path: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.address))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(auth) = authorization {
            req = req.header("Authorization", auth);
        }
        req.send().await.unwrap()
    }

    pub async fn introspect(&self, caller: &TestClient, token: &str) -> serde_json::Value {
        let resp = self
            .post_form(
                "/introspect",
                Some(&basic(&caller.id, &caller.secret)),
                &format!("token={token}"),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        resp.json().await.unwrap()
    }

    /// A client that only introspects (`--no-grant`): it may see any token.
    pub async fn resource_server(&self, id: &str) -> TestClient {
        self.create_client(tokend::admin::NewClient {
            name: "resource server".into(),
            client_id: Some(id.into()),
            grant_types: Some(vec![]),
            ..tokend::admin::NewClient::default()
        })
        .await
    }

    pub async fn access_token(&self, client: &TestClient) -> String {
        let body: serde_json::Value = self
            .token_for(client, "grant_type=client_credentials")
            .await
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().expect("a token").to_owned()
    }
}

#[tokio::test]
async fn introspection_of_active_malformed_and_foreign_tokens() {
    let app = spawn_app().await;
    let rs = app.resource_server("resource-server").await;
    let c = app.simple_client("svc", "read write").await;
    let token = app.access_token(&c).await;
    let active = app.introspect(&rs, &token).await;
    assert_eq!(active["active"], true);
    for field in [
        "scope",
        "client_id",
        "sub",
        "aud",
        "iss",
        "exp",
        "iat",
        "nbf",
        "jti",
    ] {
        assert!(active.get(field).is_some(), "{field}");
    }
    assert_eq!(active["token_type"], "Bearer");
    assert_eq!(active["scope"], "read write");
    assert_eq!(active["client_id"], "svc");

    for junk in ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let resp = app
            .post_form(
                "/introspect",
                Some(&basic(&rs.id, &rs.secret)),
                &format!("token={junk}"),
            )
            .await;
        if junk.is_empty() {
            assert_eq!(resp.status().as_u16(), 400, "token is required");
            continue;
        }
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"active": false}), "{junk}");
    }

    // A token of another tokend (another key set and issuer).
    let other = spawn_app().await;
    let oc = other.simple_client("svc", "read").await;
    let foreign = other.access_token(&oc).await;
    assert_eq!(
        app.introspect(&rs, &foreign).await,
        serde_json::json!({"active": false})
    );
    // A tampered token.
    let mut tampered = token.clone();
    tampered.insert(tampered.find('.').unwrap() + 3, 'x');
    assert_eq!(app.introspect(&rs, &tampered).await["active"], false);
}

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let app = spawn_app().await;
    let c = app.simple_client("svc", "read").await;
    let token = app.access_token(&c).await;
    let resp = app
        .post_form("/introspect", None, &format!("token={token}"))
        .await;
    assert_eq!(resp.status().as_u16(), 401);
    let resp = app
        .post_form(
            "/introspect",
            Some(&basic("svc", "wrong")),
            &format!("token={token}"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 401);
    let resp = app
        .http
        .get(format!("{}/introspect", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
}

#[tokio::test]
async fn expired_tokens_are_inactive() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_on(|_| {}, Arc::new(clock.clone())).await;
    let c = app.simple_client("svc", "read").await;
    let token = app.access_token(&c).await;
    assert_eq!(app.introspect(&c, &token).await["active"], true);
    clock.advance(chrono::Duration::seconds(3601));
    assert_eq!(app.introspect(&c, &token).await["active"], false);
}

#[tokio::test]
async fn tokens_of_a_revoked_key_are_inactive() {
    let app = spawn_app().await;
    let c = app.simple_client("svc", "read").await;
    let token = app.access_token(&c).await;
    // Introspected once: remembered as signature-checked, which must not
    // outlive the key.
    assert_eq!(app.introspect(&c, &token).await["active"], true);
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    app.admin().revoke_key(&kid).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || async {
            app.introspect(&c, &token).await["active"] == false
        })
        .await
    );
}

#[tokio::test]
async fn the_owner_revokes_another_client_cannot() {
    let app = spawn_app().await;
    let owner = app.simple_client("owner", "read").await;
    let other = app.simple_client("other", "read").await;
    let token = app.access_token(&owner).await;

    let resp = app
        .post_form(
            "/revoke",
            Some(&basic(&other.id, &other.secret)),
            &format!("token={token}"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(app.introspect(&owner, &token).await["active"], true);

    let resp = app
        .post_form(
            "/revoke",
            Some(&basic(&owner.id, &owner.secret)),
            &format!("token={token}&token_type_hint=access_token"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(app.introspect(&owner, &token).await["active"], false);
    assert_eq!(app.introspect(&other, &token).await["active"], false);

    // Unknown, invalid or already revoked tokens: 200 all the same.
    for t in ["garbage", token.as_str()] {
        let resp = app
            .post_form(
                "/revoke",
                Some(&basic(&owner.id, &owner.secret)),
                &format!("token={t}"),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200, "{t}");
    }
    // No authentication: 401.
    let resp = app
        .post_form("/revoke", None, &format!("token={token}"))
        .await;
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn a_revocation_reaches_another_process_on_the_same_database_within_two_seconds() {
    let app = spawn_app().await;
    let c = app.simple_client("svc", "read").await;
    // A second application on the same database: another replica.
    let mut settings = app.settings.clone();
    settings.listen = "127.0.0.1:0".into();
    settings.issuer = Some(app.issuer.clone());
    let second = tokend::app::Application::build(settings, Arc::new(tokend::clock::SystemClock))
        .await
        .unwrap();
    let replica = second.state();
    tokio::spawn(second.run_until_stopped());

    let token = app.access_token(&c).await;
    let svc = replica
        .clients
        .get("svc")
        .expect("loaded at start")
        .client
        .clone();
    assert!(replica.inspector.introspect(&svc, &token).active);
    let resp = app
        .post_form(
            "/revoke",
            Some(&basic(&c.id, &c.secret)),
            &format!("token={token}"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        eventually(Duration::from_secs(2), || async {
            !replica.inspector.introspect(&svc, &token).active
        })
        .await,
        "the other replica sees the revocation within 2 s"
    );
}

#[tokio::test]
async fn the_deny_list_keeps_a_revoked_jti_only_until_the_token_expires() {
    let app = spawn_app().await;
    let c = app.simple_client("svc", "read").await;
    let token = app.access_token(&c).await;
    let claims = app.verify(&token, &app.issuer).await;
    let (jti, exp) = (
        claims["jti"].as_str().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    app.post_form(
        "/revoke",
        Some(&basic(&c.id, &c.secret)),
        &format!("token={token}"),
    )
    .await;
    let store = &app.admin().store;
    assert_eq!(store.revoked_token(jti).await.unwrap(), Some(exp));
    store.sweep_expired(exp).await.unwrap();
    assert_eq!(
        store.revoked_token(jti).await.unwrap(),
        Some(exp),
        "kept until exp"
    );
    store.sweep_expired(exp + 1).await.unwrap();
    assert_eq!(
        store.revoked_token(jti).await.unwrap(),
        None,
        "gone after exp"
    );
}

/// SPEC §7 (issue 15): a disabled or deleted client's live tokens stop
/// working at tokend itself — introspection and /admin — and so do tokens
/// obtained before a secret rotation without grace; from memory, at once on
/// this replica.
#[tokio::test]
async fn disabling_deleting_or_rotating_without_grace_ends_a_clients_tokens_at_tokend() {
    let app = spawn_app().await;
    let rs = app.resource_server("rs").await;
    let ops = app.simple_client("ops", "tokend:admin").await;
    let admin_token = app.access_token(&ops).await;
    let admin_status = async |token: &str| {
        app.http
            .get(format!("{}/admin/clients", app.address))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(admin_status(&admin_token).await, 200);
    assert_eq!(app.introspect(&rs, &admin_token).await["active"], true);

    app.admin().set_client_enabled("ops", false).await.unwrap();
    assert_eq!(
        admin_status(&admin_token).await,
        401,
        "a disabled admin is out"
    );
    assert_eq!(app.introspect(&rs, &admin_token).await["active"], false);
    app.admin().set_client_enabled("ops", true).await.unwrap();
    assert_eq!(admin_status(&admin_token).await, 200);

    // A rotation with grace keeps the tokens; without grace ends them.
    app.admin()
        .rotate_secret("ops", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(admin_status(&admin_token).await, 200);
    let rotated = app.admin().rotate_secret("ops", None).await.unwrap();
    assert_eq!(admin_status(&admin_token).await, 401);
    assert_eq!(app.introspect(&rs, &admin_token).await["active"], false);
    // The new secret's tokens work (issued in a later second).
    let fresh = TestClient {
        id: "ops".into(),
        secret: secrecy::ExposeSecret::expose_secret(&rotated.client_secret.unwrap()).to_owned(),
    };
    assert!(
        eventually(Duration::from_secs(3), || async {
            let t = app.access_token(&fresh).await;
            admin_status(&t).await == 200
        })
        .await
    );

    let new_token = app.access_token(&fresh).await;
    app.admin().delete_client("ops").await.unwrap();
    assert_eq!(
        admin_status(&new_token).await,
        401,
        "a deleted admin is out"
    );
    assert_eq!(app.introspect(&rs, &new_token).await["active"], false);
}

/// RFC 7662 §4: a client sees its own tokens and those naming it as
/// audience; only a resource server (or --introspect) sees the others.
#[tokio::test]
async fn only_clients_allowed_to_introspect_see_other_clients_tokens() {
    let app = spawn_app().await;
    let a = app.simple_client("svc-a", "read").await;
    let b = app.simple_client("svc-b", "read").await;
    let token_a = app.access_token(&a).await;
    assert_eq!(
        app.introspect(&a, &token_a).await["active"],
        true,
        "its own"
    );
    assert_eq!(
        app.introspect(&b, &token_a).await,
        serde_json::json!({"active": false}),
        "another client's token is not shown"
    );
    let named = app
        .create_client(tokend::admin::NewClient {
            name: "caller".into(),
            client_id: Some("caller".into()),
            scopes: tokend::admin::ScopesInput::Text("read".into()),
            audiences: vec!["svc-b".into()],
            ..tokend::admin::NewClient::default()
        })
        .await;
    let for_b = app.access_token(&named).await;
    assert_eq!(
        app.introspect(&b, &for_b).await["active"],
        true,
        "aud names svc-b"
    );
    let rs = app.resource_server("rs").await;
    assert_eq!(app.introspect(&rs, &token_a).await["active"], true);
}

/// One client cannot grow the deny list without bound: past its share of
/// unexpired revocations the store records no more for it, others go on.
#[tokio::test]
async fn the_deny_list_share_of_one_client_is_bounded() {
    let app = spawn_app().await;
    let store = &app.admin().store;
    let now = chrono::Utc::now().timestamp();
    for i in 0..3 {
        assert!(
            store
                .revoke_token(&format!("j{i}"), "greedy", now + 600, now, 3)
                .await
                .unwrap()
        );
    }
    assert!(
        !store
            .revoke_token("j3", "greedy", now + 600, now, 3)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_token("k0", "modest", now + 600, now, 3)
            .await
            .unwrap()
    );
    // Expired entries no longer count.
    assert!(
        store
            .revoke_token("j4", "greedy", now + 600, now + 601, 3)
            .await
            .unwrap()
    );
    assert_eq!(tokend::oauth::MAX_REVOKED_PER_CLIENT, 10_000);
}
