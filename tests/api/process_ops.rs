//! The real binary: the whole log of a session never holds a secret, a token,
//! an assertion or key material; one log line per request; SIGTERM under load
//! answers every request in flight and exits 0; the audit CLI.

use crate::helpers::*;
use crate::process::Tokend;
use std::io::{Read, Write};
use std::time::Duration;

#[tokio::test]
async fn no_secret_reaches_the_log_and_each_request_logs_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Tokend::sqlite_env(dir.path());
    env.push(("RUST_LOG".into(), "debug".into()));
    env.push(("TOKEND_LOG__FORMAT".into(), "json".into()));
    env.push(("TOKEND_KEYS__ALGORITHM".into(), "ES256".into()));
    let mut server = Tokend::start(&env, dir.path());
    let mut secrets: Vec<String> = Vec::new();
    let (_, created, _) = server.cli(&[
        "client",
        "create",
        "--name",
        "a",
        "--id",
        "log-client",
        "--scope",
        "read tokend:admin",
    ]);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    secrets.push(secret.clone());
    let http = reqwest::Client::new();
    let post = |path: &str, auth: Option<String>, body: String| {
        let mut req = http
            .post(server.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Request-Id", "trace-me-42")
            .body(body);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    let resp = post(
        "/token",
        Some(basic("log-client", &secret)),
        "grant_type=client_credentials".into(),
    )
    .await
    .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42");
    let token: serde_json::Value = resp.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    secrets.push(token.clone());
    // Failures, post credentials, introspection, revocation, admin API.
    post(
        "/token",
        Some(basic("log-client", "wrong-secret-xyz")),
        "grant_type=client_credentials".into(),
    )
    .await
    .unwrap();
    secrets.push("wrong-secret-xyz".into());
    post(
        "/token",
        None,
        format!("grant_type=client_credentials&client_id=log-client&client_secret={secret}"),
    )
    .await
    .unwrap();
    post(
        "/introspect",
        Some(basic("log-client", &secret)),
        format!("token={token}"),
    )
    .await
    .unwrap();
    let response = http
        .post(server.url("/admin/clients"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "via-api"}))
        .send()
        .await
        .unwrap();
    let create_request_id = response.headers()["x-request-id"].clone();
    let created: serde_json::Value = response.json().await.unwrap();
    secrets.push(created["client_secret"].as_str().unwrap().to_owned());
    let rotated: serde_json::Value = http
        .post(server.url("/admin/clients/log-client/secret"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"grace": "1h"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(rotated["client_secret"].as_str().unwrap().to_owned());
    let fake_assertion = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJsb2ctY2xpZW50Iiwic3ViIjoibG9nLWNsaWVudCJ9.c2lnbmF0dXJlLXNlY3JldA";
    post(
        "/token",
        None,
        format!("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={fake_assertion}"),
    )
    .await
    .unwrap();
    secrets.push(fake_assertion.into());
    post(
        "/revoke",
        Some(basic("log-client", &secret)),
        format!("token={token}"),
    )
    .await
    .unwrap();
    let master = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    secrets.push(master.trim().to_owned());

    assert_eq!(server.terminate(), Some(0));
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.lines().count() > 10, "the log is captured");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret reached the log: {}…",
            &secret[..8]
        );
    }
    // Private key material never appears either (PKCS#8 DER in base64 starts MI…).
    assert!(!log.contains("PRIVATE KEY") && !log.contains("\"d\":"));
    // One structured line per request, with the fields operators need.
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "request" || l["fields"]["message"] == "request")
        .collect();
    let traced: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.to_string().contains("trace-me-42"))
        .collect();
    assert_eq!(traced.len(), 6, "one line per request with the request id");
    let first = traced[0].to_string();
    for field in [
        "request_id",
        "client_id",
        "outcome",
        "status",
        "latency_ms",
        "route",
    ] {
        assert!(first.contains(field), "{field} missing in {first}");
    }
    assert!(
        first.contains("issued") && first.contains("log-client"),
        "{first}"
    );
    // A line logged inside a request carries its id too: the audit line of
    // the client created through the admin API (a generated id, echoed).
    let audit: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "audit" && l["action"] == "client.created")
        .collect();
    assert!(
        audit
            .iter()
            .any(|l| l["span"]["request_id"] == create_request_id.to_str().unwrap()),
        "{audit:?}"
    );
}

#[tokio::test]
async fn sigterm_under_load_answers_every_request_in_flight_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Tokend::start(&Tokend::sqlite_env(dir.path()), dir.path());
    let (_, created, _) = server.cli(&["client", "create", "--name", "s", "--id", "s"]);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let body = "grant_type=client_credentials";
    let auth = basic("s", &secret);
    // Twenty requests whose bodies are half sent when SIGTERM arrives.
    let mut streams = Vec::new();
    for _ in 0..20 {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        write!(
            stream,
            "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            &body[..10]
        )
        .unwrap();
        streams.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal_term();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for stream in &mut streams {
        stream.write_all(&body.as_bytes()[10..]).unwrap();
    }
    for (i, stream) in streams.iter_mut().enumerate() {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "request {i}: {response}"
        );
        assert!(response.contains("access_token"));
    }
    assert_eq!(server.wait_exit(), Some(0), "exit 0 after a graceful stop");
}

#[tokio::test]
async fn audit_list_shows_security_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = Tokend::start(&Tokend::sqlite_env(dir.path()), dir.path());
    server.cli(&["client", "create", "--name", "x", "--id", "audited-x"]);
    server.cli(&["keys", "rotate"]);
    let (code, events, err) = server.cli(&["audit", "list", "--limit", "10"]);
    assert_eq!(code, 0, "{err}");
    let events = events.as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"client.created"), "{actions:?}");
    assert!(actions.contains(&"key.created"), "{actions:?}");
    assert!(events.iter().any(|e| e["actor"] == "cli"));
    assert!(
        events.iter().any(|e| e["actor"] == "scheduler"),
        "the first key was created by the scheduler"
    );
}
