//! POST /token: every row of SPEC §3's error table, both client
//! authentication methods, scope/audience rules, TTL and claims.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokend::admin::{NewClient, ScopesInput};

const CC: &str = "grant_type=client_credentials";

async fn assert_error(resp: reqwest::Response, status: u16, error: &str) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let headers = resp.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "errors are JSON"
    );
    if status == 401 {
        assert_eq!(headers["www-authenticate"], r#"Basic realm="tokend""#);
    }
    let body: serde_json::Value = resp.json().await.expect("JSON body");
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    body
}

#[tokio::test]
async fn client_secret_basic_issues_a_token() {
    let app = spawn_app().await;
    let c = app.simple_client("orders", "read write").await;
    let resp = app.token_for(&c, CC).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    let claims = app
        .verify(body["access_token"].as_str().unwrap(), &app.issuer)
        .await;
    assert_eq!(claims["sub"], "orders");
    assert_eq!(claims["client_id"], "orders");
    assert_eq!(claims["scope"], "read write");
}

#[tokio::test]
async fn client_secret_post_issues_a_token() {
    let app = spawn_app().await;
    let c = app
        .create_client(NewClient {
            name: "poster".into(),
            client_id: Some("poster".into()),
            scopes: ScopesInput::Text("read".into()),
            auth_method: Some("client_secret_post".into()),
            ..NewClient::default()
        })
        .await;
    let body = format!("{CC}&client_id=poster&client_secret={}", c.secret);
    let resp = app.post_token(None, &body).await;
    assert_eq!(resp.status().as_u16(), 200);
    // Either secret method works, whatever the client registered (SPEC §3).
    let resp = app.token_for(&c, CC).await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn a_default_client_may_send_its_secret_in_the_body_and_gets_no_challenge_there() {
    let app = spawn_app().await;
    let c = app.simple_client("basic-by-default", "read").await;
    let body = format!("{CC}&client_id={}&client_secret={}", c.id, c.secret);
    assert_eq!(app.post_token(None, &body).await.status().as_u16(), 200);

    // A wrong secret in the body: 401 without WWW-Authenticate (a library
    // would take it for a challenge and hide the body).
    let resp = app
        .post_token(None, &format!("{CC}&client_id={}&client_secret=nope", c.id))
        .await;
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().get("www-authenticate").is_none());
    // With the Authorization header, or without any authentication: challenged.
    let resp = app.post_token(Some(&basic(&c.id, "nope")), CC).await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Basic realm="tokend""#
    );
    let resp = app.post_token(None, CC).await;
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Basic realm="tokend""#
    );
}

#[tokio::test]
async fn a_correct_secret_is_never_counted_as_a_failure() {
    let app = spawn_app().await;
    let c = app.simple_client("cron", "read").await;
    app.admin().set_client_enabled("cron", false).await.unwrap();
    // 25 correct secrets for a disabled client: refused, never limited.
    for _ in 0..25 {
        let resp = app.token_for(&c, CC).await;
        assert_error(resp, 401, "invalid_client").await;
    }
    app.admin().set_client_enabled("cron", true).await.unwrap();
    assert_eq!(app.token_for(&c, CC).await.status().as_u16(), 200);
}

#[tokio::test]
async fn raw_basic_ids_with_plus_percent_and_colon_work_as_curl_sends_them() {
    let app = spawn_app().await;
    for id in ["svc+billing", "50%off", "team:svc"] {
        let c = app.simple_client(id, "read").await;
        // Raw, as curl -u, Authlib, requests and Java send them: no form
        // encoding before base64. (A raw `:` cannot be told from the
        // separator: those ids need RFC 6749's encoding, as Go sends it.)
        let raw = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", c.id, c.secret))
        );
        let status = app.post_token(Some(&raw), CC).await.status().as_u16();
        if id.contains(':') {
            assert_eq!(status, 401, "{id}");
        } else {
            assert_eq!(status, 200, "{id}");
        }
        // Encoded, as RFC 6749 §2.3.1 says.
        assert_eq!(app.token_for(&c, CC).await.status().as_u16(), 200, "{id}");
    }
}

#[tokio::test]
async fn ids_with_colon_and_percent_work_with_basic() {
    let app = spawn_app().await;
    let c = app.simple_client("svc:billing%2Fprod", "read").await;
    let resp = app.token_for(&c, CC).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let claims = app
        .verify(body["access_token"].as_str().unwrap(), &app.issuer)
        .await;
    assert_eq!(claims["sub"], "svc:billing%2Fprod");
}

#[tokio::test]
async fn invalid_request_rows() {
    let app = spawn_app().await;
    let c = app.simple_client("c1", "read").await;
    let auth = basic(&c.id, &c.secret);
    // missing grant_type
    assert_error(
        app.post_token(Some(&auth), "scope=read").await,
        400,
        "invalid_request",
    )
    .await;
    // repeated parameter
    assert_error(
        app.post_token(Some(&auth), &format!("{CC}&scope=read&scope=read"))
            .await,
        400,
        "invalid_request",
    )
    .await;
    // wrong content type
    let resp = app
        .http
        .post(format!("{}/token", app.address))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "invalid_request").await;
    // no content type at all
    let resp = app
        .http
        .post(format!("{}/token", app.address))
        .header("Authorization", &auth)
        .body(CC)
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "invalid_request").await;
    // malformed body
    assert_error(
        app.post_token(Some(&auth), "grant_type=%zz").await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post_token(Some(&auth), "grant_type=%ff%fe").await,
        400,
        "invalid_request",
    )
    .await;
    // malformed Basic header
    assert_error(
        app.post_token(Some("Basic !!!notbase64"), CC).await,
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post_token(Some("Basic bm9jb2xvbg=="), CC).await,
        400,
        "invalid_request",
    )
    .await;
    // two authentication methods
    let body = format!("{CC}&client_id=c1&client_secret={}", c.secret);
    assert_error(
        app.post_token(Some(&auth), &body).await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn invalid_client_rows_are_indistinguishable_for_unknown_and_wrong_secret() {
    let app = spawn_app().await;
    let c = app.simple_client("c1", "read").await;
    let unknown = assert_error(
        app.post_token(Some(&basic("nobody", &c.secret)), CC).await,
        401,
        "invalid_client",
    )
    .await;
    let wrong = assert_error(
        app.post_token(Some(&basic("c1", "not-the-secret")), CC)
            .await,
        401,
        "invalid_client",
    )
    .await;
    assert_eq!(
        unknown, wrong,
        "unknown client and wrong secret answer alike"
    );
    // no authentication at all
    assert_error(app.post_token(None, CC).await, 401, "invalid_client").await;
    assert_error(
        app.post_token(None, &format!("{CC}&client_id=c1")).await,
        401,
        "invalid_client",
    )
    .await;
    // disabled client
    app.admin().set_client_enabled("c1", false).await.unwrap();
    assert_error(app.token_for(&c, CC).await, 401, "invalid_client").await;
}

#[tokio::test]
async fn unauthorized_and_unsupported_grant() {
    let app = spawn_app().await;
    let rs = app
        .create_client(NewClient {
            name: "introspector".into(),
            client_id: Some("rs".into()),
            grant_types: Some(vec![]),
            ..NewClient::default()
        })
        .await;
    assert_error(app.token_for(&rs, CC).await, 400, "unauthorized_client").await;
    let c = app.simple_client("c1", "read").await;
    assert_error(
        app.token_for(&c, "grant_type=password&username=a&password=b")
            .await,
        400,
        "unsupported_grant_type",
    )
    .await;
    assert_error(
        app.token_for(&c, "grant_type=authorization_code&code=x")
            .await,
        400,
        "unsupported_grant_type",
    )
    .await;
}

#[tokio::test]
async fn scope_rules() {
    let app = spawn_app().await;
    let c = app
        .create_client(NewClient {
            name: "s".into(),
            client_id: Some("s".into()),
            scopes: ScopesInput::Text("read write admin".into()),
            default_scopes: Some(ScopesInput::Text("read".into())),
            ..NewClient::default()
        })
        .await;
    let body: serde_json::Value = app.token_for(&c, CC).await.json().await.unwrap();
    assert_eq!(body["scope"], "read", "defaults when no scope requested");
    let body: serde_json::Value = app
        .token_for(&c, &format!("{CC}&scope=write+read"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["scope"], "write read");
    let claims = app
        .verify(body["access_token"].as_str().unwrap(), &app.issuer)
        .await;
    assert_eq!(claims["scope"], "write read");
    assert_error(
        app.token_for(&c, &format!("{CC}&scope=read+delete")).await,
        400,
        "invalid_scope",
    )
    .await;
    assert_error(
        app.token_for(&c, &format!("{CC}&scope=a%22b")).await,
        400,
        "invalid_scope",
    )
    .await;
    // all allowed scopes when no defaults are set
    let all = app.simple_client("all", "x y").await;
    let body: serde_json::Value = app.token_for(&all, CC).await.json().await.unwrap();
    assert_eq!(body["scope"], "x y");
}

#[tokio::test]
async fn audience_rules_rfc8707() {
    let app = spawn_app().await;
    let c = app
        .create_client(NewClient {
            name: "a".into(),
            client_id: Some("a".into()),
            scopes: ScopesInput::Text("read".into()),
            audiences: vec![
                "https://orders.example".into(),
                "https://billing.example".into(),
            ],
            ..NewClient::default()
        })
        .await;
    // none requested: all audiences, as an array
    let body: serde_json::Value = app.token_for(&c, CC).await.json().await.unwrap();
    let claims = app
        .verify(
            body["access_token"].as_str().unwrap(),
            "https://orders.example",
        )
        .await;
    assert_eq!(
        claims["aud"],
        serde_json::json!(["https://orders.example", "https://billing.example"])
    );
    // one requested via resource: a string
    let body: serde_json::Value = app
        .token_for(&c, &format!("{CC}&resource=https%3A%2F%2Fbilling.example"))
        .await
        .json()
        .await
        .unwrap();
    let claims = app
        .verify(
            body["access_token"].as_str().unwrap(),
            "https://billing.example",
        )
        .await;
    assert_eq!(claims["aud"], "https://billing.example");
    // audience alias, repeated
    let resp = app
        .token_for(
            &c,
            &format!("{CC}&audience=https://billing.example&audience=https://orders.example"),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    // not allowed
    assert_error(
        app.token_for(&c, &format!("{CC}&resource=https://evil.example"))
            .await,
        400,
        "invalid_target",
    )
    .await;
    // not an absolute URI
    assert_error(
        app.token_for(&c, &format!("{CC}&resource=orders")).await,
        400,
        "invalid_target",
    )
    .await;
    // a client without audiences gets the default audience (the issuer)
    let plain = app.simple_client("plain", "read").await;
    let body: serde_json::Value = app.token_for(&plain, CC).await.json().await.unwrap();
    let claims = app
        .verify(body["access_token"].as_str().unwrap(), &app.issuer)
        .await;
    assert_eq!(claims["aud"], app.issuer.as_str());
}

#[tokio::test]
async fn ttl_is_the_clients_own_capped_by_max_ttl() {
    let app = spawn_app_with(|s| s.tokens.max_ttl = std::time::Duration::from_secs(7200)).await;
    let short = app
        .create_client(NewClient {
            name: "short".into(),
            client_id: Some("short".into()),
            token_ttl: Some("15m".into()),
            ..NewClient::default()
        })
        .await;
    let long = app
        .create_client(NewClient {
            name: "long".into(),
            client_id: Some("long".into()),
            token_ttl: Some("48h".into()),
            ..NewClient::default()
        })
        .await;
    for (client, expected) in [(&short, 900), (&long, 7200)] {
        let body: serde_json::Value = app.token_for(client, CC).await.json().await.unwrap();
        assert_eq!(body["expires_in"], expected);
        let claims = app
            .verify(body["access_token"].as_str().unwrap(), &app.issuer)
            .await;
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            expected
        );
    }
}

#[tokio::test]
async fn rfc9068_claims_and_extra_claims_that_cannot_override() {
    let app = spawn_app().await;
    let mut claims = serde_json::Map::new();
    claims.insert("tenant".into(), "acme".into());
    claims.insert("tier".into(), 3.into());
    let c = app
        .create_client(NewClient {
            name: "x".into(),
            client_id: Some("x".into()),
            scopes: ScopesInput::Text("read".into()),
            claims,
            ..NewClient::default()
        })
        .await;
    let body: serde_json::Value = app.token_for(&c, CC).await.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert!(header.kid.is_some());
    let claims = app.verify(token, &app.issuer).await;
    for name in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "client_id",
        "scope",
    ] {
        assert!(claims.get(name).is_some(), "claim {name} present");
    }
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["tier"], 3);
    // jti is unique per token
    let again: serde_json::Value = app.token_for(&c, CC).await.json().await.unwrap();
    let claims2 = app
        .verify(again["access_token"].as_str().unwrap(), &app.issuer)
        .await;
    assert_ne!(claims["jti"], claims2["jti"]);
    // registering a reserved claim is refused
    let mut bad = serde_json::Map::new();
    bad.insert("sub".into(), "someone-else".into());
    let err = app
        .admin()
        .create_client(NewClient {
            name: "bad".into(),
            claims: bad,
            ..NewClient::default()
        })
        .await
        .err()
        .expect("reserved claim refused");
    assert!(err.to_string().contains("sub"), "{err}");
}

#[tokio::test]
async fn method_not_allowed_and_body_too_large() {
    let app = spawn_app().await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let resp = app
            .http
            .request(method, format!("{}/token", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["allow"], "POST");
        assert_eq!(resp.status().as_u16(), 405);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(body["error"].is_string());
    }
    let c = app.simple_client("c1", "read").await;
    let big = format!("{CC}&pad={}", "a".repeat(17 * 1024));
    assert_error(app.token_for(&c, &big).await, 413, "invalid_request").await;
    // just under the limit is fine
    let ok = format!("{CC}&pad={}", "a".repeat(15 * 1024));
    assert_eq!(app.token_for(&c, &ok).await.status().as_u16(), 200);
}

/// The body is read however it arrives: a body in two pieces is waited for,
/// and one that stops arriving gets 408 once the body timeout (10 s) is up,
/// instead of holding a worker.
#[tokio::test]
async fn a_body_in_pieces_is_read_and_one_that_stops_gets_408() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let c = app.simple_client("pieces", "read").await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let body = format!("{CC}&scope=read");
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        basic(&c.id, &c.secret),
        body.len()
    );
    let answer = |mut stream: tokio::net::TcpStream| async move {
        let mut response = String::new();
        tokio::time::timeout(
            Duration::from_secs(30),
            stream.read_to_string(&mut response),
        )
        .await
        .expect("an answer within 30 s")
        .unwrap();
        response
    };

    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    // Whether the server reads the first piece alone or both together, the
    // answer is the same; the pause makes the first more likely.
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let response = answer(stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("access_token"));

    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    let started = Instant::now();
    let response = answer(stream).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("invalid_request"), "{response}");
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "408 only once the body timeout is up"
    );
}

#[tokio::test]
async fn unknown_paths_get_a_json_404() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/nope", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn every_algorithm_issues_verifiable_tokens() {
    for alg in tokend::domain::Algorithm::ALL {
        let app = spawn_app_with(|s| s.keys.algorithm = alg).await;
        let c = app.simple_client("c", "read").await;
        let body: serde_json::Value = app.token_for(&c, CC).await.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            format!("{:?}", jsonwebtoken::decode_header(token).unwrap().alg),
            alg.as_str()
        );
        let claims = app.verify(token, &app.issuer).await;
        assert_eq!(claims["sub"], "c");
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let app = spawn_app().await;
    let c = app.simple_client("twice", "read").await;
    let resp = app
        .http
        .post(format!("{}/token", app.address))
        .header("Authorization", basic(&c.id, &c.secret))
        .header("Authorization", basic("other", "x"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(CC)
        .send()
        .await
        .unwrap();
    assert_error(resp, 400, "invalid_request").await;
}
