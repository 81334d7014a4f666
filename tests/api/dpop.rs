//! DPoP at the token endpoint (RFC 9449; SPEC §9): a proof binds the token
//! to the client's key (`cnf.jkt`, `token_type: DPoP`); each proof check
//! refuses with `invalid_dpop_proof`; a proof is accepted once.

use crate::dpop_key::DpopKey;
use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;
use tokend::admin::{NewClient, ScopesInput};

async fn token_with(
    app: &TestApp,
    client: &TestClient,
    proof: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut req = app
        .http
        .post(format!("{}/token", app.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Authorization", basic(&client.id, &client.secret))
        .body("grant_type=client_credentials");
    if let Some(proof) = proof {
        req = req.header("DPoP", proof);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> serde_json::Value {
    app.http
        .post(format!("{}/introspect", app.address))
        .header("Authorization", basic(&client.id, &client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_proof_binds_the_token_to_the_key() {
    let app = spawn_app().await;
    let client = app.simple_client("svc", "read").await;
    let key = DpopKey::new();
    let htu = format!("{}/token", app.issuer);
    let (code, body) = token_with(&app, &client, Some(&key.proof(&htu))).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    let claims = app.verify(token, &app.issuer).await;
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());
    let seen = introspect(&app, &client, token).await;
    assert_eq!(seen["token_type"], "DPoP", "{seen}");
    assert_eq!(seen["cnf"]["jkt"], key.thumbprint());
    // Without a proof: a plain bearer token, as before.
    let (code, body) = token_with(&app, &client, None).await;
    assert_eq!(code, 200);
    assert_eq!(body["token_type"], "Bearer");
    let plain = body["access_token"].as_str().unwrap();
    assert!(app.verify(plain, &app.issuer).await.get("cnf").is_none());
    assert_eq!(
        introspect(&app, &client, plain).await["token_type"],
        "Bearer"
    );
    // Metadata names the proof algorithms.
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
        metadata["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256"))
    );
}

#[tokio::test]
async fn every_proof_check_refuses_with_invalid_dpop_proof() {
    let app = spawn_app().await;
    let client = app.simple_client("svc", "read").await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let htu = format!("{}/token", app.issuer);
    let now = chrono::Utc::now().timestamp();
    let with = |patch: serde_json::Value| {
        let mut c = key.claims(&htu);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        key.sign(key.header(), c)
    };
    let header_with = |patch: serde_json::Value| {
        let mut h = key.header();
        for (k, v) in patch.as_object().unwrap() {
            h[k] = v.clone();
        }
        key.sign(h, key.claims(&htu))
    };
    let unsigned = |alg: &str| {
        let h = json!({"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk()});
        format!(
            "{}.{}.",
            B64.encode(h.to_string()),
            B64.encode(key.claims(&htu).to_string())
        )
    };
    let mut private_jwk = key.jwk();
    private_jwk["d"] = json!("c2VjcmV0");
    let reused = key.proof(&htu);
    assert_eq!(token_with(&app, &client, Some(&reused)).await.0, 200);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong htu",
            with(json!({"htu": "https://elsewhere.example/token"})),
            "htu",
        ),
        (
            "htu of another path",
            with(json!({"htu": format!("{}/introspect", app.issuer)})),
            "htu",
        ),
        ("wrong htm", with(json!({"htm": "GET"})), "htm"),
        ("old iat", with(json!({"iat": now - 3600})), "iat"),
        ("future iat", with(json!({"iat": now + 3600})), "iat"),
        ("no jti", with(json!({"jti": null})), "jti"),
        ("reused jti", reused, "already used"),
        (
            "private key in jwk",
            header_with(json!({"jwk": private_jwk})),
            "private",
        ),
        ("HS256", unsigned("HS256"), "alg"),
        ("none", unsigned("none"), "alg"),
        ("typ JWT", header_with(json!({"typ": "JWT"})), "typ"),
        (
            "signed by another key than jwk",
            header_with(json!({"jwk": other.jwk()})),
            "signature",
        ),
        ("not a JWT", "not-a-jwt".to_owned(), "not a JWT"),
    ];
    for (name, proof, expected) in &cases {
        let (code, body) = token_with(&app, &client, Some(proof)).await;
        assert_eq!(code, 400, "{name}: {body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{name}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{name}: {description}");
    }
    // Two DPoP headers.
    let resp = app
        .http
        .post(format!("{}/token", app.address))
        .header("Authorization", basic(&client.id, &client.secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof(&htu))
        .header("DPoP", key.proof(&htu))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn a_require_dpop_client_gets_no_bearer_token() {
    let app = spawn_app().await;
    let client = app
        .create_client(NewClient {
            name: "bound".into(),
            client_id: Some("bound".into()),
            scopes: ScopesInput::Text("read".into()),
            require_dpop: Some(true),
            ..NewClient::default()
        })
        .await;
    let (code, body) = token_with(&app, &client, None).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("DPoP"));
    let key = DpopKey::new();
    let (code, body) = token_with(
        &app,
        &client,
        Some(&key.proof(&format!("{}/token", app.issuer))),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

/// SPEC §9: behind a trusted proxy, `htu` is the URL with the forwarded
/// scheme and host; from any other peer those headers change nothing.
#[tokio::test]
async fn htu_behind_a_trusted_proxy_is_the_forwarded_url() {
    for trusted in [true, false] {
        let app = spawn_app_with(|s| {
            if trusted {
                s.http.trusted_proxies =
                    tokend::config::TrustedProxies::parse("127.0.0.1").unwrap();
            }
        })
        .await;
        let client = app.simple_client("svc", "read").await;
        let key = DpopKey::new();
        let resp = app
            .http
            .post(format!("{}/token", app.address))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Authorization", basic(&client.id, &client.secret))
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "auth.public.example")
            .header("DPoP", key.proof("https://auth.public.example/token"))
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        if trusted {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["token_type"], "DPoP");
        } else {
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid_dpop_proof");
        }
    }
}
