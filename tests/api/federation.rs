//! Workload identity federation (SPEC §8) in process: a second tokend as the
//! foreign issuer (discovery, its key rotation followed), and a test issuer
//! whose keys are given inline, for every check that must refuse.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;
use std::collections::BTreeMap;
use tokend::admin::{NewBinding, NewClient, NewTrustProvider, ScopesInput};
use tokend::domain::Algorithm;
use tokend::keys::{GeneratedKey, Signer, generate};

const ASSERTION_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
const JWT_BEARER: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

/// A foreign issuer whose JWKS the test hands to tokend inline.
pub(crate) struct Issuer {
    pub(crate) iss: String,
    key: GeneratedKey,
    kid: String,
}

impl Issuer {
    pub(crate) fn new(iss: &str, alg: Algorithm) -> Self {
        Self {
            iss: iss.into(),
            key: generate(alg).unwrap(),
            kid: format!("k-{}", random_hex(4)),
        }
    }

    pub(crate) fn jwks(&self) -> serde_json::Value {
        let mut jwk = serde_json::to_value(&self.key.jwk).unwrap();
        jwk["kid"] = json!(self.kid);
        json!({ "keys": [jwk] })
    }

    pub(crate) fn sign(&self, claims: &serde_json::Value) -> String {
        Signer::from_pkcs8(self.key.alg, &self.kid, &self.key.pkcs8)
            .unwrap()
            .sign_jwt(claims.to_string().as_bytes())
            .unwrap()
    }

    /// A Kubernetes projected service-account token's claims.
    fn k8s_claims(&self, aud: &str, namespace: &str, sa: &str) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "aud": [aud], "exp": now + 600, "iat": now, "nbf": now,
            "iss": self.iss,
            "jti": random_hex(8),
            "kubernetes.io": {
                "namespace": namespace,
                "pod": {"name": "orders-7d9f", "uid": "5a0e7c0e-0000-4000-8000-000000000001"},
                "serviceaccount": {"name": sa, "uid": "5a0e7c0e-0000-4000-8000-000000000002"},
            },
            "sub": format!("system:serviceaccount:{namespace}:{sa}"),
        })
    }
}

async fn add_provider(app: &TestApp, new: NewTrustProvider) {
    app.admin()
        .add_trust_provider(new)
        .await
        .expect("provider added");
}

async fn bind(app: &TestApp, client: &str, provider: &str, subject: &str, claims: &[(&str, &str)]) {
    app.admin()
        .bind_client(
            client,
            NewBinding {
                provider: provider.into(),
                subject: subject.into(),
                claims: claims
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            },
        )
        .await
        .expect("bound");
}

async fn federated_client(app: &TestApp, id: &str) {
    app.create_client(NewClient {
        name: id.into(),
        client_id: Some(id.into()),
        scopes: ScopesInput::Text("orders:read orders:write".into()),
        auth_method: Some("federated".into()),
        claims: [("team".to_owned(), json!("payments"))]
            .into_iter()
            .collect(),
        ..NewClient::default()
    })
    .await;
}

async fn assertion(app: &TestApp, jwt: &str, extra: &str) -> (u16, serde_json::Value) {
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={jwt}{extra}"
    );
    let resp = app.post_token(None, &body).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn grant(app: &TestApp, jwt: &str, extra: &str) -> (u16, serde_json::Value) {
    let body = format!("grant_type={JWT_BEARER}&assertion={jwt}{extra}");
    let resp = app.post_token(None, &body).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// tokend with a Kubernetes-shaped provider (inline keys), a client `orders`
/// bound to one service account.
async fn k8s_setup() -> (TestApp, Issuer) {
    let app = spawn_app().await;
    let k8s = Issuer::new(
        "https://kubernetes.default.svc.cluster.local",
        Algorithm::RS256,
    );
    add_provider(
        &app,
        NewTrustProvider {
            name: "k8s".into(),
            issuer: Some(k8s.iss.clone()),
            kind: Some("kubernetes".into()),
            jwks: Some(k8s.jwks()),
            ..NewTrustProvider::default()
        },
    )
    .await;
    federated_client(&app, "orders").await;
    bind(
        &app,
        "orders",
        "k8s",
        "system:serviceaccount:prod:orders",
        &[],
    )
    .await;
    (app, k8s)
}

#[tokio::test]
async fn a_kubernetes_token_becomes_the_bound_client_in_either_request_form() {
    let (app, k8s) = k8s_setup().await;
    let jwt = k8s.sign(&k8s.k8s_claims(&app.issuer, "prod", "orders"));

    let (code, body) = assertion(&app, &jwt, "&scope=orders:read").await;
    assert_eq!(code, 200, "{body}");
    let claims = app
        .verify(body["access_token"].as_str().unwrap(), &app.issuer)
        .await;
    assert_eq!(claims["sub"], "orders");
    assert_eq!(claims["client_id"], "orders");
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(
        claims["team"], "payments",
        "the client's extra claims apply"
    );

    // The same token again (Kubernetes tokens are reused until they expire),
    // now as the jwt-bearer grant.
    let (code, body) = grant(&app, &jwt, "").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["scope"], "orders:read orders:write");

    // The first use is in the audit trail, with provider and subject.
    let events = app.admin().audit_events(50, None).await.unwrap();
    let first = events
        .iter()
        .filter(|e| e.action == "federation.first_use")
        .collect::<Vec<_>>();
    assert_eq!(first.len(), 1, "{events:?}");
    assert_eq!(first[0].subject, "orders");
    assert_eq!(first[0].details["provider"], "k8s");
    assert_eq!(
        first[0].details["subject"],
        "system:serviceaccount:prod:orders"
    );

    // Metrics count it by provider and outcome.
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"tokend_federated_requests_total{outcome="authenticated",provider="k8s"} 2"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"auth_method="federated",grant="jwt_bearer",outcome="issued""#));
}

/// No secret anywhere and no stolen token usable: the workload's platform
/// token authenticates it, its DPoP proof binds the token it gets.
#[tokio::test]
async fn a_workload_token_with_a_dpop_proof_gets_a_bound_token_and_no_secret_exists() {
    let (app, k8s) = k8s_setup().await;
    let jwt = k8s.sign(&k8s.k8s_claims(&app.issuer, "prod", "orders"));
    let key = crate::dpop_key::DpopKey::new();
    let resp = app
        .http
        .post(format!("{}/token", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof(&format!("{}/token", app.issuer)))
        .body(format!("grant_type={JWT_BEARER}&assertion={jwt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let claims = app
        .verify(body["access_token"].as_str().unwrap(), &app.issuer)
        .await;
    assert_eq!(claims["client_id"], "orders");
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint().as_str());
    let client = app.admin().get_client("orders").await.unwrap();
    assert_eq!(
        client.auth_method.as_str(),
        "federated",
        "the client has no secret"
    );
}

#[tokio::test]
async fn every_check_refuses_with_its_own_words() {
    let (app, k8s) = k8s_setup().await;
    let good = k8s.k8s_claims(&app.issuer, "prod", "orders");
    let now = chrono::Utc::now().timestamp();
    let with = |patch: serde_json::Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        k8s.sign(&c)
    };
    let header = |h: serde_json::Value| B64.encode(h.to_string());
    let payload = B64.encode(good.to_string());
    // alg none, and HS256 "signed" with the provider's public key as secret.
    let none = format!(
        "{}.{payload}.",
        header(json!({"alg": "none", "kid": k8s.kid}))
    );
    let hs_input = format!(
        "{}.{payload}",
        header(json!({"alg": "HS256", "kid": k8s.kid}))
    );
    let public = serde_json::to_vec(&k8s.jwks()["keys"][0]).unwrap();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public);
    let hs = format!(
        "{hs_input}.{}",
        B64.encode(aws_lc_rs::hmac::sign(&key, hs_input.as_bytes()))
    );
    let other_key = Issuer::new(&k8s.iss, Algorithm::RS256);
    let mut forged = Issuer::new(&k8s.iss, Algorithm::RS256);
    forged.kid = k8s.kid.clone();
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", none, "alg \"none\" is not accepted"),
        (
            "HS256 with the public key",
            hs,
            "alg \"HS256\" is not accepted",
        ),
        (
            "signed by another key, same kid",
            forged.sign(&good),
            "signature does not verify",
        ),
        ("unknown kid", other_key.sign(&good), "has kid"),
        (
            "wrong audience",
            with(json!({"aud": ["https://api.example"]})),
            "audience does not name this server",
        ),
        (
            "no audience",
            with(json!({"aud": null})),
            "audience does not name this server",
        ),
        (
            "expired",
            with(json!({"exp": now - 3600, "iat": now - 4000})),
            "expired",
        ),
        ("no exp", with(json!({"exp": null})), "no exp"),
        (
            "from the future",
            with(json!({"nbf": now + 3600, "exp": now + 4000})),
            "not valid yet",
        ),
        (
            "lifetime over the bound",
            with(json!({"iat": now, "exp": now + 2 * 3600})),
            "exceeds trust provider k8s's max lifetime",
        ),
        (
            "another service account",
            with(json!({"sub": "system:serviceaccount:prod:billing"})),
            "no binding of trust provider k8s matches subject system:serviceaccount:prod:billing",
        ),
        ("no sub", with(json!({"sub": null})), "no sub"),
    ];
    for (name, jwt, expected) in &cases {
        let (code, body) = assertion(&app, jwt, "").await;
        assert_eq!(code, 401, "{name}: {body}");
        assert_eq!(body["error"], "invalid_client", "{name}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{name}: {description}");
        // The jwt-bearer grant says the same as invalid_grant.
        let (code, body) = grant(&app, jwt, "").await;
        assert_eq!(
            (code, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{name}: {body}"
        );
    }
    // A token of an issuer nobody configured, in the grant form.
    let stranger = Issuer::new("https://stranger.example", Algorithm::ES256);
    let mut strange = good.clone();
    strange["iss"] = json!(stranger.iss);
    let (code, body) = grant(&app, &stranger.sign(&strange), "").await;
    assert_eq!(code, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no trust provider"),
        "{body}"
    );
    // Over 16 KiB: refused before anything else, never a 500.
    let big = with(json!({"pad": "x".repeat(17 * 1024)}));
    let (code, body) = grant(&app, &big, "").await;
    assert!(code == 400 || code == 413, "{code} {body}");
    // No description carries key material or the token.
    for (_, jwt, _) in &cases {
        let (_, body) = assertion(&app, jwt, "").await;
        let text = body.to_string();
        assert!(!text.contains(&jwt[..40.min(jwt.len())]));
        assert!(!text.contains(k8s.jwks()["keys"][0]["n"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn a_token_of_provider_p_does_not_reach_a_client_bound_only_to_q() {
    let (app, k8s) = k8s_setup().await;
    let other = Issuer::new("https://other-cluster.example", Algorithm::ES256);
    add_provider(
        &app,
        NewTrustProvider {
            name: "other".into(),
            issuer: Some(other.iss.clone()),
            kind: Some("kubernetes".into()),
            jwks: Some(other.jwks()),
            ..NewTrustProvider::default()
        },
    )
    .await;
    federated_client(&app, "billing").await;
    bind(
        &app,
        "billing",
        "other",
        "system:serviceaccount:prod:orders",
        &[],
    )
    .await;
    // k8s's prod/orders asks to be billing: billing is bound only to `other`.
    let jwt = k8s.sign(&k8s.k8s_claims(&app.issuer, "prod", "orders"));
    let (code, body) = assertion(&app, &jwt, "&client_id=billing").await;
    assert_eq!(code, 401, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no binding of client billing matches subject system:serviceaccount:prod:orders of trust provider k8s"),
        "{body}"
    );
    // The same subject at `other` is billing.
    let jwt = other.sign(&other.k8s_claims(&app.issuer, "prod", "orders"));
    let (code, body) = assertion(&app, &jwt, "").await;
    assert_eq!(code, 200, "{body}");
    let claims = app
        .verify(body["access_token"].as_str().unwrap(), &app.issuer)
        .await;
    assert_eq!(claims["client_id"], "billing");
}

#[tokio::test]
async fn one_workload_bound_to_several_clients_picks_with_client_id() {
    let (app, k8s) = k8s_setup().await;
    federated_client(&app, "reports").await;
    bind(&app, "reports", "k8s", "system:serviceaccount:prod:*", &[]).await;
    let jwt = k8s.sign(&k8s.k8s_claims(&app.issuer, "prod", "orders"));
    let (code, body) = assertion(&app, &jwt, "").await;
    assert_eq!(code, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("bound to several clients (orders, reports): send client_id"),
        "{body}"
    );
    for id in ["orders", "reports"] {
        let (code, body) = grant(&app, &jwt, &format!("&client_id={id}")).await;
        assert_eq!(code, 200, "{body}");
        let claims = app
            .verify(body["access_token"].as_str().unwrap(), &app.issuer)
            .await;
        assert_eq!(claims["client_id"], id);
    }
    // A disabled client is refused by name; a deleted one's bindings go too.
    app.admin()
        .set_client_enabled("reports", false)
        .await
        .unwrap();
    let (code, body) = grant(&app, &jwt, "&client_id=reports").await;
    assert_eq!(code, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("client reports is disabled")
    );
    app.admin().delete_client("reports").await.unwrap();
    assert!(
        app.admin()
            .client_bindings("reports")
            .await
            .unwrap()
            .is_empty()
    );
    let (code, body) = grant(&app, &jwt, "").await;
    assert_eq!(code, 200, "only orders is left: {body}");
}

#[tokio::test]
async fn single_use_providers_accept_a_jti_once() {
    let app = spawn_app().await;
    let spire = Issuer::new("https://oidc.example", Algorithm::ES256);
    add_provider(
        &app,
        NewTrustProvider {
            name: "ci".into(),
            issuer: Some(spire.iss.clone()),
            jwks: Some(spire.jwks()),
            single_use: Some(true),
            audiences: vec!["tokend".into()],
            max_lifetime: Some("5m".into()),
            ..NewTrustProvider::default()
        },
    )
    .await;
    federated_client(&app, "job").await;
    bind(&app, "job", "ci", "job-*", &[]).await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": spire.iss, "sub": "job-42", "aud": "tokend", "iat": now, "exp": now + 120, "jti": random_hex(8)});
    let jwt = spire.sign(&claims);
    assert_eq!(grant(&app, &jwt, "").await.0, 200);
    let (code, body) = grant(&app, &jwt, "").await;
    assert_eq!(code, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );
    // Without a jti, a single-use provider refuses.
    let mut no_jti = claims.clone();
    no_jti.as_object_mut().unwrap().remove("jti");
    let (code, body) = grant(&app, &spire.sign(&no_jti), "").await;
    assert_eq!(code, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("needs a jti"),
        "{body}"
    );
    // The configured audience replaces the default one.
    let mut default_aud = claims.clone();
    default_aud["aud"] = json!(app.issuer);
    default_aud["jti"] = json!(random_hex(8));
    let (code, _) = grant(&app, &spire.sign(&default_aud), "").await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn github_actions_bindings_must_name_the_owner_and_match_its_claims() {
    let app = spawn_app().await;
    let gh = Issuer::new(tokend::domain::GITHUB_ACTIONS_ISSUER, Algorithm::RS256);
    add_provider(
        &app,
        NewTrustProvider {
            name: "github".into(),
            kind: Some("github-actions".into()),
            jwks: Some(gh.jwks()),
            ..NewTrustProvider::default()
        },
    )
    .await;
    federated_client(&app, "deployer").await;
    let refused = app
        .admin()
        .bind_client(
            "deployer",
            NewBinding {
                provider: "github".into(),
                subject: "repo:acme/api:ref:refs/heads/main".into(),
                claims: BTreeMap::new(),
            },
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("repository_owner_id"), "{refused}");
    bind(
        &app,
        "deployer",
        "github",
        "repo:acme/*:ref:refs/heads/main",
        &[("repository_owner_id", "4242")],
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    // The claims GitHub puts in an Actions OIDC token.
    let claims = |owner_id: &str, repo: &str| {
        json!({
            "jti": random_hex(8), "sub": format!("repo:{repo}:ref:refs/heads/main"),
            "aud": app.issuer, "ref": "refs/heads/main", "sha": "d6b7c3a", "repository": repo,
            "repository_owner": repo.split('/').next().unwrap(), "repository_owner_id": owner_id,
            "repository_id": "99", "repository_visibility": "private", "run_id": "7", "run_number": "3",
            "run_attempt": "1", "actor": "octocat", "actor_id": "1", "workflow": "deploy",
            "event_name": "push", "ref_type": "branch", "job_workflow_ref": format!("{repo}/.github/workflows/deploy.yml@refs/heads/main"),
            "runner_environment": "github-hosted",
            "iss": tokend::domain::GITHUB_ACTIONS_ISSUER, "nbf": now - 5, "exp": now + 300, "iat": now - 5,
        })
    };
    let (code, body) = grant(&app, &gh.sign(&claims("4242", "acme/api")), "").await;
    assert_eq!(code, 200, "{body}");
    // Another owner who named a repository acme/api after acme renamed.
    let (code, body) = grant(&app, &gh.sign(&claims("666", "acme/api")), "").await;
    assert_eq!(code, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no binding"),
        "{body}"
    );
}

#[tokio::test]
async fn trust_test_explains_each_check_and_the_bindings() {
    let (app, k8s) = k8s_setup().await;
    let jwt = k8s.sign(&k8s.k8s_claims(&app.issuer, "prod", "orders"));
    let report = app
        .admin()
        .test_trust_token("k8s", &jwt, None, &app.issuer)
        .await
        .unwrap();
    assert!(report.would_issue, "{report:?}");
    assert_eq!(report.client_id.as_deref(), Some("orders"));
    let names: Vec<&str> = report.checks.iter().map(|c| c.check).collect();
    assert_eq!(
        names,
        [
            "signature",
            "iss",
            "sub",
            "aud",
            "exp",
            "nbf/iat",
            "lifetime"
        ]
    );
    assert!(report.checks.iter().all(|c| c.ok));
    let bad = k8s.sign(&k8s.k8s_claims("https://elsewhere", "prod", "orders"));
    let report = app
        .admin()
        .test_trust_token("k8s", &bad, None, &app.issuer)
        .await
        .unwrap();
    assert!(!report.would_issue);
    let aud = report.checks.iter().find(|c| c.check == "aud").unwrap();
    assert!(!aud.ok && aud.detail.contains("audience"), "{report:?}");
}

#[tokio::test]
async fn a_second_tokend_is_a_trust_provider_and_its_rotation_is_followed() {
    let a = spawn_app().await;
    let b = spawn_app().await;
    // B's workload: a client whose tokens name A.
    let workload = b
        .create_client(NewClient {
            name: "edge".into(),
            client_id: Some("edge".into()),
            audiences: vec![a.issuer.clone()],
            ..NewClient::default()
        })
        .await;
    add_provider(
        &a,
        NewTrustProvider {
            name: "tokend-b".into(),
            issuer: Some(b.issuer.clone()),
            discovery: Some(true),
            allow_http: Some(true),
            ..NewTrustProvider::default()
        },
    )
    .await;
    federated_client(&a, "edge-at-a").await;
    bind(&a, "edge-at-a", "tokend-b", "edge", &[]).await;
    let token_from_b = || async {
        let resp = b
            .token_for(&workload, "grant_type=client_credentials")
            .await;
        let body: serde_json::Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let (code, body) = grant(&a, &token_from_b().await, "").await;
    assert_eq!(code, 200, "{body}");
    let claims = a
        .verify(body["access_token"].as_str().unwrap(), &a.issuer)
        .await;
    assert_eq!(claims["client_id"], "edge-at-a");

    // B rotates at once: its next token has a kid A has not seen; A
    // refetches B's JWKS once and accepts it.
    b.admin().rotate_keys(true).await.unwrap();
    b.state.reload_ring().await.unwrap();
    let rotated = token_from_b().await;
    let (code, body) = grant(&a, &rotated, "").await;
    assert_eq!(code, 200, "{body}");
}

/// Two `tokend serve` processes on one PostgreSQL database: a provider and a
/// binding added through one replica's admin API work on the other within
/// 2 s, and a single-use token is accepted once across both.
#[tokio::test]
#[ignore = "needs PostgreSQL: ./test.sh runs it with TOKEND_TEST_DATABASE_URL"]
async fn replicas_share_providers_bindings_and_single_use() {
    use crate::process::Tokend;
    assert!(
        std::env::var("TOKEND_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()),
        "this test needs PostgreSQL: set TOKEND_TEST_DATABASE_URL=postgres://…"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path()).await;
    let issuer = "https://auth.test";
    let env = vec![
        ("TOKEND_DATABASE_URL".to_owned(), db.url.clone()),
        (
            "TOKEND_MASTER_KEY_FILE".to_owned(),
            dir.path().join("master.key").display().to_string(),
        ),
        ("TOKEND_ISSUER".to_owned(), issuer.to_owned()),
        ("TOKEND_KEYS__ALGORITHM".to_owned(), "ES256".to_owned()),
    ];
    let replicas: Vec<Tokend> = (0..2).map(|_| Tokend::start(&env, dir.path())).collect();
    let (code, admin, err) = replicas[0].cli(&[
        "client",
        "create",
        "--name",
        "ops",
        "--id",
        "ops",
        "--scope",
        "tokend:admin",
    ]);
    assert_eq!(code, 0, "{err}");
    let secret = admin["client_secret"].as_str().unwrap().to_owned();
    replicas[0].wait_for_client("ops", &secret);
    let (_, token) = replicas[0].token("ops", &secret).await;
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let http = reqwest::Client::new();
    let post = |url: String, body: serde_json::Value| {
        let req = http.post(url).header("Authorization", &bearer).json(&body);
        async move { req.send().await.unwrap() }
    };

    let ci = Issuer::new("https://ci.example", Algorithm::ES256);
    let created = post(
        replicas[0].url("/admin/trust-providers"),
        json!({"name": "ci", "issuer": ci.iss, "jwks": ci.jwks(), "single_use": true}),
    )
    .await;
    assert_eq!(created.status(), 201, "{:?}", created.text().await);
    let refused = post(
        replicas[0].url("/admin/trust-providers"),
        json!({"name": "x", "issuer": "https://x.example", "bearer_token_file": "/etc/shadow"}),
    )
    .await;
    assert_eq!(
        refused.status(),
        400,
        "files on the host are named from the CLI only"
    );
    let (code, _, err) = replicas[0].cli(&[
        "client",
        "create",
        "--name",
        "job",
        "--id",
        "job",
        "--auth-method",
        "federated",
    ]);
    assert_eq!(code, 0, "{err}");
    let bound = post(
        replicas[0].url("/admin/clients/job/bindings"),
        json!({"provider": "ci", "subject": "pipeline-*"}),
    )
    .await;
    assert_eq!(bound.status(), 201, "{:?}", bound.text().await);

    let now = chrono::Utc::now().timestamp();
    let mint = || {
        ci.sign(
            &json!({"iss": ci.iss, "sub": "pipeline-7", "aud": format!("{issuer}/token"),
            "iat": now, "exp": now + 120, "jti": random_hex(8)}),
        )
    };
    let exchange = |server: &Tokend, jwt: String| {
        let req = http
            .post(server.url("/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("grant_type={JWT_BEARER}&assertion={jwt}"));
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    // Every replica honours provider and binding within 2 s (the client
    // came from the CLI, so each replica also hears of it from the feed).
    for (i, replica) in replicas.iter().enumerate() {
        let honoured = eventually(std::time::Duration::from_secs(2), || {
            let attempt = exchange(replica, mint());
            async move { attempt.await.0 == 200 }
        })
        .await;
        assert!(
            honoured,
            "replica {i} did not honour the new provider within 2 s"
        );
    }
    // A single-use token: once, whichever replica sees it first.
    let once = mint();
    let first = exchange(&replicas[0], once.clone()).await;
    assert_eq!(first.0, 200, "{}", first.1);
    let again = exchange(&replicas[1], once.clone()).await;
    assert_eq!(again.0, 400, "{}", again.1);
    assert!(again.1.contains("already used"), "{}", again.1);
    assert_eq!(exchange(&replicas[0], once).await.0, 400);
}

#[tokio::test]
async fn a_reused_token_is_verified_once_but_refused_once_its_key_is_gone() {
    let (app, k8s) = k8s_setup().await;
    let jwt = k8s.sign(&k8s.k8s_claims(&app.issuer, "prod", "orders"));
    for _ in 0..3 {
        assert_eq!(grant(&app, &jwt, "").await.0, 200);
    }
    // The cluster's key rotated away: the remembered signature no longer counts.
    let rotated = Issuer::new(&k8s.iss, Algorithm::RS256);
    app.admin()
        .update_trust_provider(
            "k8s",
            tokend::admin::TrustProviderUpdate {
                jwks: Some(rotated.jwks()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (code, body) = grant(&app, &jwt, "").await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("has kid"),
        "{body}"
    );
    // A binding removed takes effect for a remembered token at once too.
    let fresh = rotated.sign(&rotated.k8s_claims(&app.issuer, "prod", "orders"));
    assert_eq!(grant(&app, &fresh, "").await.0, 200);
    app.admin()
        .unbind_client("orders", "k8s", "system:serviceaccount:prod:orders")
        .await
        .unwrap();
    assert_eq!(grant(&app, &fresh, "").await.0, 400);
}
