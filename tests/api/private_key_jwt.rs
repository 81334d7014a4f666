//! private_key_jwt (RFC 7523 §2.2): assertions signed with the client's own
//! key; replay, audience, lifetime and algorithm confusion refused.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;
use tokend::admin::{NewClient, ScopesInput};
use tokend::domain::Algorithm;
use tokend::keys::{GeneratedKey, Signer, generate};

const ASSERTION_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

struct KeyClient {
    id: String,
    key: GeneratedKey,
}

impl KeyClient {
    async fn register(app: &TestApp, id: &str, alg: Algorithm) -> Self {
        let key = generate(alg).unwrap();
        let mut jwk = serde_json::to_value(&key.jwk).unwrap();
        jwk["kid"] = json!("client-key-1");
        app.create_client(NewClient {
            name: id.into(),
            client_id: Some(id.into()),
            scopes: ScopesInput::Text("read".into()),
            auth_method: Some("private_key_jwt".into()),
            jwks: Some(json!({"keys": [jwk]})),
            // Also a resource server here: it introspects other tokens.
            may_introspect: Some(true),
            ..NewClient::default()
        })
        .await;
        Self { id: id.into(), key }
    }

    fn sign(&self, claims: serde_json::Value) -> String {
        Signer::from_pkcs8(self.key.alg, "client-key-1", &self.key.pkcs8)
            .unwrap()
            .sign_jwt(claims.to_string().as_bytes())
            .unwrap()
    }

    fn claims(&self, app: &TestApp) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.id, "sub": self.id, "aud": format!("{}/token", app.issuer),
            "exp": now + 60, "iat": now, "jti": random_hex(12),
        })
    }
}

fn body(assertion: &str) -> String {
    format!(
        "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}"
    )
}

async fn status(app: &TestApp, assertion: &str) -> (u16, serde_json::Value) {
    let resp = app.post_token(None, &body(assertion)).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn rsa_and_ec_client_keys_authenticate() {
    let app = spawn_app().await;
    for (id, alg) in [
        ("rsa-client", Algorithm::RS256),
        ("ec-client", Algorithm::ES256),
        ("ps-client", Algorithm::PS256),
        ("ed-client", Algorithm::EdDSA),
    ] {
        let client = KeyClient::register(&app, id, alg).await;
        let assertion = client.sign(client.claims(&app));
        let (code, body) = status(&app, &assertion).await;
        assert_eq!(code, 200, "{alg}: {body}");
        let claims = app
            .verify(body["access_token"].as_str().unwrap(), &app.issuer)
            .await;
        assert_eq!(claims["sub"], id);
        // The issuer itself is an acceptable audience too, and a client_id
        // in the body must match.
        let mut c = client.claims(&app);
        c["aud"] = json!([app.issuer, "https://elsewhere"]);
        let resp = app
            .post_token(
                None,
                &format!("{}&client_id={id}", body_for(&client.sign(c))),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 200);
    }
}

fn body_for(assertion: &str) -> String {
    body(assertion)
}

#[tokio::test]
async fn replay_wrong_audience_long_lifetime_and_wrong_subject_are_refused() {
    let app = spawn_app().await;
    let client = KeyClient::register(&app, "k", Algorithm::ES256).await;
    let assertion = client.sign(client.claims(&app));
    assert_eq!(status(&app, &assertion).await.0, 200);
    let (code, body) = status(&app, &assertion).await;
    assert_eq!(code, 401, "replay");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("replay")
    );

    let now = chrono::Utc::now().timestamp();
    let cases = [
        ("aud", json!("https://other.example/token")),
        ("exp", json!(now + 600)),
        ("exp", json!(now - 120)),
        ("sub", json!("someone-else")),
        ("jti", json!(null)),
        ("nbf", json!(now + 600)),
    ];
    for (field, value) in cases {
        let mut claims = client.claims(&app);
        claims[field] = value.clone();
        let (code, body) = status(&app, &client.sign(claims)).await;
        assert_eq!(code, 401, "{field}={value}: {body}");
        assert_eq!(body["error"], "invalid_client");
    }
    let mut claims = client.claims(&app);
    claims.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        status(&app, &client.sign(claims)).await.0,
        401,
        "exp is required"
    );

    // A key the client did not register.
    let stranger = generate(Algorithm::ES256).unwrap();
    let forged = Signer::from_pkcs8(Algorithm::ES256, "client-key-1", &stranger.pkcs8)
        .unwrap()
        .sign_jwt(client.claims(&app).to_string().as_bytes())
        .unwrap();
    assert_eq!(status(&app, &forged).await.0, 401);
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    let app = spawn_app().await;
    let client = KeyClient::register(&app, "rsa", Algorithm::RS256).await;
    let claims = client.claims(&app).to_string();
    let payload = B64.encode(&claims);

    // alg none
    let none = format!("{}.{payload}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#));
    let (code, body) = status(&app, &none).await;
    assert_eq!(code, 401, "{body}");

    // HS256 keyed with the public key's JSON and with its modulus
    let jwk = serde_json::to_string(&client.key.jwk).unwrap();
    let n = client.key.jwk.n.clone().unwrap();
    for secret in [
        jwk.as_bytes().to_vec(),
        B64.decode(&n).unwrap(),
        n.as_bytes().to_vec(),
    ] {
        let header = B64.encode(r#"{"alg":"HS256","typ":"JWT","kid":"client-key-1"}"#);
        let input = format!("{header}.{payload}");
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let sig = B64.encode(aws_lc_rs::hmac::sign(&key, input.as_bytes()));
        let (code, _) = status(&app, &format!("{input}.{sig}")).await;
        assert_eq!(code, 401, "HS256 with public key material");
    }

    // An alg the key does not have: ES256 header on an RSA key.
    let ec = generate(Algorithm::ES256).unwrap();
    let mismatched = Signer::from_pkcs8(Algorithm::ES256, "client-key-1", &ec.pkcs8)
        .unwrap()
        .sign_jwt(claims.as_bytes())
        .unwrap();
    assert_eq!(status(&app, &mismatched).await.0, 401);

    // A secret client may not present an assertion, nor a key client a secret.
    let secret_client = app.simple_client("secretive", "read").await;
    let mut c = client.claims(&app);
    c["iss"] = json!("secretive");
    c["sub"] = json!("secretive");
    assert_eq!(status(&app, &client.sign(c)).await.0, 401);
    assert_eq!(
        app.token_for(
            &TestClient {
                id: "rsa".into(),
                secret: secret_client.secret.clone()
            },
            "grant_type=client_credentials"
        )
        .await
        .status()
        .as_u16(),
        401
    );
}

#[tokio::test]
async fn private_key_jwt_works_at_introspection_and_revocation() {
    let app = spawn_app().await;
    let client = KeyClient::register(&app, "rs", Algorithm::ES256).await;
    let svc = app.simple_client("svc", "read").await;
    let token = app.access_token(&svc).await;
    let resp = app
        .post_form(
            "/introspect",
            None,
            &format!(
                "token={token}&client_assertion_type={ASSERTION_TYPE}&client_assertion={}",
                client.sign(client.claims(&app))
            ),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["active"], true);
}

#[tokio::test]
async fn private_keys_in_a_registered_jwks_are_refused() {
    let app = spawn_app().await;
    let err = app
        .admin()
        .create_client(NewClient {
            name: "leaky".into(),
            auth_method: Some("private_key_jwt".into()),
            jwks: Some(
                json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}]}),
            ),
            ..NewClient::default()
        })
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("public keys only"), "{err}");
    let err = app
        .admin()
        .create_client(NewClient {
            name: "hmac".into(),
            auth_method: Some("private_key_jwt".into()),
            jwks: Some(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
            ..NewClient::default()
        })
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("jwks"), "{err}");
}

/// What can be told without the client answers alike for a known and an
/// unknown id (no existence oracle); the 5-minute cap has no leeway; an
/// unknown `crit` is refused.
#[tokio::test]
async fn no_existence_oracle_exact_lifetime_cap_and_crit_refused() {
    let app = spawn_app().await;
    let known = KeyClient::register(&app, "known", Algorithm::ES256).await;
    let now = chrono::Utc::now().timestamp();
    let forge = |id: &str, header: &str| {
        let claims = json!({"iss": id, "sub": id, "aud": format!("{}/token", app.issuer),
            "exp": now + 60, "jti": random_hex(8)});
        format!(
            "{}.{}.{}",
            B64.encode(header),
            B64.encode(claims.to_string()),
            B64.encode("not-a-signature")
        )
    };
    for header in [
        r#"{"alg":"HS256","typ":"JWT"}"#,
        r#"{"alg":"none"}"#,
        r#"{"alg":"ES256","kid":"nope"}"#,
        r#"{"alg":"ES256","kid":"client-key-1"}"#,
    ] {
        let (k_code, k_body) = status(&app, &forge("known", header)).await;
        let (u_code, u_body) = status(&app, &forge("unknown-client", header)).await;
        assert_eq!((k_code, &k_body), (u_code, &u_body), "{header}");
    }
    // 5 minutes and 55 seconds ahead: refused, though within the leeway.
    let mut claims = known.claims(&app);
    claims["exp"] = json!(now + 355);
    let (code, body) = status(&app, &known.sign(claims)).await;
    assert_eq!(code, 401, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("5 minutes")
    );
    // crit: a header parameter tokend would have to understand.
    let header = B64.encode(r#"{"alg":"ES256","kid":"client-key-1","crit":["exp"]}"#);
    let payload = B64.encode(known.claims(&app).to_string());
    let (code, body) = status(&app, &format!("{header}.{payload}.AAAA")).await;
    assert_eq!(code, 401);
    assert!(
        body["error_description"].as_str().unwrap().contains("crit"),
        "{body}"
    );
}
