//! Token exchange (RFC 8693, SPEC §10): a chain of services A → B → C → D,
//! each hop trading the token it received for a narrower one, and every
//! refusal.

use crate::dpop_key::DpopKey;
use crate::federation::Issuer;
use crate::helpers::*;
use serde_json::json;
use std::sync::Arc;
use tokend::admin::{NewClient, NewTrustProvider, ScopesInput};
use tokend::clock::ManualClock;
use tokend::domain::Algorithm;

const EXCHANGE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange";
const ACCESS_TOKEN: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";
const JWT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt";
const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

async fn service(
    app: &TestApp,
    id: &str,
    scopes: &str,
    audiences: &[&str],
    exchange: bool,
) -> TestClient {
    let mut grants = vec!["client_credentials".to_owned()];
    if exchange {
        grants.push(EXCHANGE_GRANT.to_owned());
    }
    app.create_client(NewClient {
        name: id.into(),
        client_id: Some(id.into()),
        scopes: ScopesInput::Text(scopes.into()),
        audiences: audiences.iter().map(|a| a.to_string()).collect(),
        grant_types: Some(grants),
        claims: [("team".to_owned(), json!(format!("team-{id}")))]
            .into_iter()
            .collect(),
        ..NewClient::default()
    })
    .await
}

/// A → B → C → D: A gets a token for B; B and C may exchange.
async fn chain(app: &TestApp) -> (TestClient, TestClient, TestClient) {
    let a = service(
        app,
        "svc-a",
        "orders:read orders:write",
        &["https://b.example"],
        false,
    )
    .await;
    let b = service(
        app,
        "svc-b",
        "orders:read orders:write",
        &["https://c.example"],
        true,
    )
    .await;
    let c = service(app, "svc-c", "orders:read", &["https://d.example"], true).await;
    (a, b, c)
}

async fn token(app: &TestApp, client: &TestClient, body: &str) -> (u16, serde_json::Value) {
    let resp = app.token_for(client, body).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn exchange_body(subject: &str, extra: &str) -> String {
    format!(
        "grant_type={EXCHANGE}&subject_token={subject}&subject_token_type={ACCESS_TOKEN}{extra}"
    )
}

async fn exchange(
    app: &TestApp,
    caller: &TestClient,
    subject: &str,
    extra: &str,
) -> (u16, serde_json::Value) {
    token(app, caller, &exchange_body(subject, extra)).await
}

fn access_token(body: &serde_json::Value) -> String {
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"))
        .to_owned()
}

fn refused(answer: &(u16, serde_json::Value), status: u16, error: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"], error, "{}", answer.1);
    assert!(
        answer.1["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
}

#[tokio::test]
async fn a_chain_of_three_hops_nests_act_and_only_narrows() {
    let app = spawn_app().await;
    let (a, b, c) = chain(&app).await;

    let (status, body) = token(&app, &a, "grant_type=client_credentials").await;
    assert_eq!(status, 200, "{body}");
    let from_a = access_token(&body);
    let a_claims = app.verify(&from_a, "https://b.example").await;

    // B trades A's token for C's audience, with less scope.
    let (status, body) = exchange(
        &app,
        &b,
        &from_a,
        "&audience=https%3A%2F%2Fc.example&scope=orders%3Aread",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "orders:read");
    assert!(body.get("refresh_token").is_none());
    let from_b = access_token(&body);
    let b_claims = app.verify(&from_b, "https://c.example").await;
    assert_eq!(b_claims["sub"], "svc-a");
    assert_eq!(b_claims["client_id"], "svc-b");
    assert_eq!(b_claims["aud"], "https://c.example");
    assert_eq!(b_claims["scope"], "orders:read");
    assert_eq!(b_claims["act"], json!({"sub": "svc-b"}));
    assert!(b_claims["exp"].as_i64() <= a_claims["exp"].as_i64());
    // The subject's own registered claims travel with it, not B's.
    assert_eq!(b_claims["team"], "team-svc-a");

    // C trades B's token for D's audience: act nests, newest actor outside.
    let (status, body) = exchange(&app, &c, &from_b, "&resource=https%3A%2F%2Fd.example").await;
    assert_eq!(status, 200, "{body}");
    let from_c = access_token(&body);
    let c_claims = app.verify(&from_c, "https://d.example").await;
    assert_eq!(c_claims["sub"], "svc-a");
    assert_eq!(c_claims["client_id"], "svc-c");
    assert_eq!(c_claims["scope"], "orders:read");
    assert_eq!(
        c_claims["act"],
        json!({"sub": "svc-c", "act": {"sub": "svc-b"}})
    );
    assert!(c_claims["exp"].as_i64() <= b_claims["exp"].as_i64());

    // Introspection shows the delegation.
    let introspected: serde_json::Value = app
        .post_form(
            "/introspect",
            Some(&basic(&c.id, &c.secret)),
            &format!("token={from_c}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(
        introspected["act"],
        json!({"sub": "svc-c", "act": {"sub": "svc-b"}})
    );

    // Metadata names the grant.
    let metadata: serde_json::Value = app
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            app.address
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(EXCHANGE_GRANT))
    );
}

#[tokio::test]
async fn every_refusal_has_its_error() {
    let app = spawn_app().await;
    let (a, b, c) = chain(&app).await;
    let (_, body) = token(
        &app,
        &a,
        "grant_type=client_credentials&scope=orders%3Aread",
    )
    .await;
    let from_a = access_token(&body);

    // Widening: a scope the subject token does not have.
    refused(
        &exchange(&app, &b, &from_a, "&scope=orders%3Aread+orders%3Awrite").await,
        400,
        "invalid_scope",
    );
    // A scope the caller may not have.
    refused(
        &exchange(&app, &c, &from_a, "&scope=orders%3Awrite").await,
        400,
        "invalid_scope",
    );
    // An audience that is not the caller's own.
    refused(
        &exchange(&app, &b, &from_a, "&audience=https%3A%2F%2Fd.example").await,
        400,
        "invalid_target",
    );
    // A client without --exchange.
    refused(
        &exchange(&app, &a, &from_a, "").await,
        400,
        "unauthorized_client",
    );
    // Not a token of this issuer; garbage.
    refused(
        &exchange(&app, &b, "not.a.token", "").await,
        400,
        "invalid_grant",
    );
    let other = spawn_app().await;
    let stranger = other.simple_client("svc-a", "orders:read").await;
    let (_, body) = token(&other, &stranger, "grant_type=client_credentials").await;
    refused(
        &exchange(&app, &b, &access_token(&body), "").await,
        400,
        "invalid_grant",
    );
    // Malformed requests.
    let bad = [
        format!("grant_type={EXCHANGE}&subject_token={from_a}"),
        format!("grant_type={EXCHANGE}&subject_token_type={ACCESS_TOKEN}"),
        format!(
            "grant_type={EXCHANGE}&subject_token={from_a}&subject_token_type=urn%3Aexample%3Aother"
        ),
        exchange_body(
            &from_a,
            "&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Arefresh_token",
        ),
        exchange_body(&from_a, &format!("&actor_token={from_a}")),
    ];
    for body in &bad {
        refused(&token(&app, &b, body).await, 400, "invalid_request");
    }
    // An actor token that is not the caller's.
    refused(
        &exchange(
            &app,
            &b,
            &from_a,
            &format!("&actor_token={from_a}&actor_token_type={ACCESS_TOKEN}"),
        )
        .await,
        400,
        "invalid_request",
    );
    // The caller's own token as the actor token is fine.
    let (_, body) = token(&app, &b, "grant_type=client_credentials").await;
    let b_own = access_token(&body);
    let (status, body) = exchange(
        &app,
        &b,
        &from_a,
        &format!("&actor_token={b_own}&actor_token_type={ACCESS_TOKEN}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Revoked: the owner revokes, the exchange is refused.
    let resp = app
        .post_form(
            "/revoke",
            Some(&basic(&a.id, &a.secret)),
            &format!("token={from_a}"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    refused(&exchange(&app, &b, &from_a, "").await, 400, "invalid_grant");

    // After all this, the client can still exchange a good token.
    let (_, body) = token(&app, &a, "grant_type=client_credentials").await;
    let (status, body) = exchange(&app, &b, &access_token(&body), "").await;
    assert_eq!(status, 200, "{body}");
    // With no scope asked: what the subject and the caller have in common.
    assert_eq!(body["scope"], "orders:read orders:write");
}

#[tokio::test]
async fn an_expired_subject_token_is_refused_and_the_new_token_never_outlives_it() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_on(|_| {}, Arc::new(clock.clone())).await;
    let (a, b, _) = chain(&app).await;
    app.admin()
        .update_client(
            "svc-a",
            tokend::admin::ClientUpdate {
                token_ttl: Some("10m".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (_, body) = token(&app, &a, "grant_type=client_credentials").await;
    let from_a = access_token(&body);

    // 9 minutes later B's own lifetime (1h) is cut to what A's token has left.
    clock.advance(chrono::Duration::minutes(9));
    let (status, body) = exchange(&app, &b, &from_a, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 60);

    clock.advance(chrono::Duration::minutes(1));
    refused(&exchange(&app, &b, &from_a, "").await, 400, "invalid_grant");
}

#[tokio::test]
async fn a_dpop_proof_binds_the_exchanged_token() {
    let app = spawn_app().await;
    let (a, b, _) = chain(&app).await;
    let (_, body) = token(&app, &a, "grant_type=client_credentials").await;
    let from_a = access_token(&body);
    let key = DpopKey::new();
    let resp = app
        .http
        .post(format!("{}/token", app.address))
        .header("Authorization", basic(&b.id, &b.secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof(&format!("{}/token", app.issuer)))
        .body(exchange_body(&from_a, ""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let claims = app.verify(&access_token(&body), "https://c.example").await;
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
    assert_eq!(claims["act"]["sub"], "svc-b");
}

#[tokio::test]
async fn a_trust_providers_token_is_a_subject_and_may_act_is_honoured() {
    let app = spawn_app().await;
    let (_, b, _) = chain(&app).await;
    let idp = Issuer::new("https://idp.example", Algorithm::ES256);
    app.admin()
        .add_trust_provider(NewTrustProvider {
            name: "idp".into(),
            issuer: Some(idp.iss.clone()),
            jwks: Some(idp.jwks()),
            audiences: vec!["https://b.example".into()],
            ..NewTrustProvider::default()
        })
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let user_token = |may_act: serde_json::Value| {
        let mut claims = json!({
            "iss": idp.iss, "sub": "user-42", "aud": "https://b.example",
            "iat": now, "exp": now + 300, "scope": "orders:read profile",
        });
        if !may_act.is_null() {
            claims["may_act"] = may_act;
        }
        idp.sign(&claims)
    };
    let body =
        |jwt: &str| format!("grant_type={EXCHANGE}&subject_token={jwt}&subject_token_type={JWT}");

    let (status, answer) = token(&app, &b, &body(&user_token(serde_json::Value::Null))).await;
    assert_eq!(status, 200, "{answer}");
    let claims = app
        .verify(&access_token(&answer), "https://c.example")
        .await;
    assert_eq!(claims["sub"], "user-42");
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["act"], json!({"sub": "svc-b"}));
    assert!(claims["exp"].as_i64().unwrap() <= now + 300);
    assert!(
        claims.get("team").is_none(),
        "no claim of the caller or the foreign token is copied"
    );

    let (status, answer) = token(&app, &b, &body(&user_token(json!({"sub": "svc-b"})))).await;
    assert_eq!(status, 200, "{answer}");
    refused(
        &token(&app, &b, &body(&user_token(json!({"sub": "svc-c"})))).await,
        400,
        "invalid_grant",
    );

    // Its token checked as §8 says: the audience must be one the provider lists.
    let wrong_aud = idp.sign(&json!({
        "iss": idp.iss, "sub": "user-42", "aud": "https://elsewhere.example",
        "iat": now, "exp": now + 300, "scope": "orders:read",
    }));
    refused(
        &token(&app, &b, &body(&wrong_aud)).await,
        400,
        "invalid_grant",
    );
    // An access token passed as a jwt of a provider: no provider has tokend's issuer.
    let unknown = Issuer::new("https://unknown.example", Algorithm::ES256);
    let foreign = unknown.sign(
        &json!({"iss": unknown.iss, "sub": "x", "aud": "https://b.example", "exp": now + 60}),
    );
    refused(
        &token(&app, &b, &body(&foreign)).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn grant_types_register_exchange_and_refuse_others() {
    let app = spawn_app().await;
    let created = app
        .admin()
        .create_client(NewClient {
            name: "edge".into(),
            client_id: Some("edge".into()),
            grant_types: Some(vec!["client_credentials".into(), EXCHANGE_GRANT.into()]),
            ..NewClient::default()
        })
        .await
        .unwrap();
    assert_eq!(
        created.client.grant_types,
        vec!["client_credentials", EXCHANGE_GRANT]
    );
    let Err(err) = app
        .admin()
        .create_client(NewClient {
            name: "x".into(),
            grant_types: Some(vec!["authorization_code".into()]),
            ..NewClient::default()
        })
        .await
    else {
        panic!("an unsupported grant type is refused");
    };
    assert!(err.to_string().contains("authorization_code"), "{err}");
}
