//! Operations and hardening: metrics, the failed-authentication limiter,
//! the audit trail, and malformed input that never gets a 5xx.

use crate::helpers::*;
use std::sync::Arc;
use tokend::clock::ManualClock;

async fn metrics(app: &TestApp) -> String {
    let resp = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    resp.text().await.unwrap()
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series}"))
}

#[tokio::test]
async fn metrics_count_outcomes_latency_and_keys_without_client_labels() {
    let app = spawn_app().await;
    let c = app.simple_client("metrics-client-7", "read").await;
    for _ in 0..3 {
        assert_eq!(
            app.token_for(&c, "grant_type=client_credentials")
                .await
                .status()
                .as_u16(),
            200
        );
    }
    app.post_token(
        Some(&basic(&c.id, "wrong")),
        "grant_type=client_credentials",
    )
    .await;
    app.token_for(&c, "grant_type=client_credentials&scope=admin")
        .await;
    let text = metrics(&app).await;
    assert_eq!(
        value(
            &text,
            r#"tokend_token_requests_total{auth_method="client_secret_basic",grant="client_credentials",outcome="issued"}"#
        ),
        3.0
    );
    assert_eq!(
        value(
            &text,
            r#"tokend_token_requests_total{auth_method="client_secret_basic",grant="client_credentials",outcome="invalid_client"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"tokend_token_requests_total{auth_method="client_secret_basic",grant="client_credentials",outcome="invalid_scope"}"#
        ),
        1.0
    );
    assert!(
        value(
            &text,
            r#"tokend_http_request_duration_seconds_count{endpoint="/token"}"#
        ) >= 5.0
    );
    assert_eq!(value(&text, "tokend_keys_published"), 1.0);
    assert!(value(&text, "tokend_signing_key_age_seconds") >= 0.0);
    assert_eq!(value(&text, "tokend_jwks_max_age_seconds"), 300.0);
    assert!(
        value(&text, "tokend_next_rotation_timestamp_seconds")
            > value(&text, "tokend_next_key_publication_timestamp_seconds")
    );
    assert!(text.contains("tokend_key_rotations_total"));
    assert!(text.contains("tokend_database_errors_total"));
    assert!(text.contains("tokend_registered_clients"));
    // Process series under the standard names, CPU time in fractions.
    assert!(value(&text, "process_cpu_seconds_total") > 0.0);
    assert!(value(&text, "process_resident_memory_bytes") > 0.0);
    assert!(!text.contains("tokend_process_"));
    assert!(!text.contains("metrics-client-7"), "no client id label");
    assert!(!text.contains(&c.secret));
}

#[tokio::test]
async fn failed_authentications_are_limited_then_recover_after_the_window() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_on(|_| {}, Arc::new(clock.clone())).await;
    let victim = app.simple_client("victim", "read").await;
    let body = "grant_type=client_credentials";
    for _ in 0..20 {
        let resp = app.post_token(Some(&basic("victim", "guess")), body).await;
        assert_eq!(resp.status().as_u16(), 401);
    }
    let resp = app.post_token(Some(&basic("victim", "guess")), body).await;
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["error"], "temporarily_unavailable");
    // Past the limit even the right secret waits for the window…
    assert_eq!(app.token_for(&victim, body).await.status().as_u16(), 429);
    // …but never longer than the window.
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(app.token_for(&victim, body).await.status().as_u16(), 200);

    // The limit event is in the audit trail.
    let events = app.admin().audit_events(50, None).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "auth.failure_limit_reached" && e.subject == "victim")
    );
    let text = metrics(&app).await;
    assert!(value(&text, "tokend_auth_failures_limited_total") >= 2.0);
}

#[tokio::test]
async fn random_client_ids_from_one_address_hit_the_address_limit() {
    let app = spawn_app().await;
    let c = app.simple_client("legit", "read").await;
    let mut limited = false;
    for i in 0..101 {
        let resp = app
            .post_token(
                Some(&basic(&format!("random-{i}"), "x")),
                "grant_type=client_credentials",
            )
            .await;
        if resp.status().as_u16() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "100 failures per address and window");
    // The state stays bounded whatever the attacker sends.
    assert!(app.state.auth.limiter.len() <= 50_000);
    let resp = app.token_for(&c, "grant_type=client_credentials").await;
    assert_eq!(
        resp.status().as_u16(),
        429,
        "the same address waits out the window"
    );
}

#[tokio::test]
async fn the_audit_trail_records_client_and_key_changes() {
    let app = spawn_app().await;
    let admin = app.admin().as_actor("test-operator");
    let created = admin
        .create_client(tokend::admin::NewClient {
            name: "audited".into(),
            client_id: Some("audited".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    admin.rotate_secret("audited", None).await.unwrap();
    admin.set_client_enabled("audited", false).await.unwrap();
    admin.delete_client("audited").await.unwrap();
    admin.rotate_keys(false).await.unwrap();
    let events = app.admin().audit_events(100, None).await.unwrap();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    for expected in [
        "client.created",
        "client.secret_rotated",
        "client.updated",
        "client.deleted",
        "key.created",
    ] {
        assert!(
            actions.contains(&(expected, "test-operator")),
            "{expected} missing: {actions:?}"
        );
    }
    let text = serde_json::to_string(&events).unwrap();
    use secrecy::ExposeSecret;
    assert!(!text.contains(created.client_secret.unwrap().expose_secret()));
}

#[tokio::test]
async fn hundreds_of_malformed_requests_never_get_a_5xx_and_tokens_still_flow() {
    let clock = ManualClock::starting_now();
    let app = spawn_app_on(|_| {}, Arc::new(clock.clone())).await;
    let c = app.simple_client("steady", "read").await;
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let paths = [
        "/token",
        "/introspect",
        "/revoke",
        "/admin/clients",
        "/.well-known/jwks.json",
        "/nope",
    ];
    let mut sent = 0;
    for round in 0..400 {
        let path = paths[round % paths.len()];
        let len = (random() % 300) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| (random() % 256) as u8).collect();
        let body: Vec<u8> = match round % 8 {
            0 => bytes,
            1 => b"grant_type=client_credentials&scope=%zz%".to_vec(),
            2 => format!("grant_type={}", "a".repeat(20_000)).into_bytes(),
            3 => "grant_type=client_credentials&".repeat(200).into_bytes(),
            4 => vec![0xff, 0xfe, 0x3d, 0xff],
            5 => vec![b'x'; 1024 * 1024],
            6 => b"token=&token=&client_id=%00".to_vec(),
            _ => b"grant_type=client_credentials&resource=%E2%82&audience=".to_vec(),
        };
        let method = match round % 5 {
            0 => reqwest::Method::GET,
            1 => reqwest::Method::PUT,
            2 => reqwest::Method::DELETE,
            _ => reqwest::Method::POST,
        };
        let authorization = match round % 6 {
            0 => "Basic".to_owned(),
            1 => "Basic !!!".to_owned(),
            2 => format!("Basic {}", "A".repeat(5000)),
            3 => "Bearer x.y.z".to_owned(),
            4 => basic("steady", "wrong"),
            _ => "Basic Og==".to_owned(),
        };
        let content_type = if round % 3 == 0 {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let resp = app
            .http
            .request(method, format!("{}{path}", app.address))
            .header("Authorization", authorization)
            .header("Content-Type", content_type)
            .header("X-Request-Id", format!("robust-{round}"))
            .body(body)
            .send()
            .await;
        let Ok(resp) = resp else { continue };
        sent += 1;
        let status = resp.status().as_u16();
        assert!(status < 500, "round {round}: {status} on {path}");
        if status >= 400 {
            let body: serde_json::Value = resp
                .json()
                .await
                .unwrap_or_else(|e| panic!("round {round}: not JSON: {e}"));
            assert!(body["error"].is_string(), "round {round}: {body}");
        }
    }
    assert!(sent >= 390, "{sent} answered");
    // The server still issues tokens: once the failed-authentication window
    // the barrage filled has passed, the legitimate client gets its token.
    clock.advance(chrono::Duration::seconds(61));
    let resp = app.token_for(&c, "grant_type=client_credentials").await;
    assert_eq!(resp.status().as_u16(), 200);
}

/// `promtool check metrics` (Debian's prometheus package) finds nothing to
/// complain about in /metrics.
#[tokio::test]
async fn promtool_accepts_the_metrics() {
    let app = spawn_app().await;
    let c = app.simple_client("prom", "read").await;
    app.token_for(&c, "grant_type=client_credentials").await;
    let text = metrics(&app).await;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (./test.sh installs Debian's prometheus)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn token_status(http: &reqwest::Client, app: &TestApp, auth: &str) -> u16 {
    forwarded_token_status(http, app, None, auth).await
}

/// POST /token, with `X-Forwarded-For` when given; the status.
async fn forwarded_token_status(
    http: &reqwest::Client,
    app: &TestApp,
    forwarded_for: Option<&str>,
    auth: &str,
) -> u16 {
    let mut req = http
        .post(format!("{}/token", app.address))
        .header("Authorization", auth)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials");
    if let Some(address) = forwarded_for {
        req = req.header("X-Forwarded-For", address);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Client ids are public: 1,000 wrong secrets for an id from one address
/// lock out that address, never the client at its own address (SPEC §7).
#[tokio::test]
async fn a_thousand_failures_from_one_address_never_lock_the_client_out_elsewhere() {
    let app = spawn_app().await;
    let victim = app.simple_client("payments", "read").await;
    let attacker = from("127.0.0.66");
    let mut limited = 0;
    for _ in 0..1000 {
        match token_status(&attacker, &app, &basic("payments", "guess")).await {
            401 => {}
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        limited >= 980,
        "the attacker is limited after 20: {limited}"
    );
    let service = from("127.0.0.7");
    let good = basic(&victim.id, &victim.secret);
    assert_eq!(token_status(&service, &app, &good).await, 200);
    // The attacker's address stays limited, even with the right secret.
    assert_eq!(token_status(&attacker, &app, &good).await, 429);
}

/// Behind a trusted proxy the limit applies to the forwarded address; the
/// same header from anyone else is ignored.
#[tokio::test]
async fn the_forwarded_address_counts_only_from_a_trusted_proxy() {
    let app = spawn_app_with(|s| {
        s.http.trusted_proxies = tokend::config::TrustedProxies::parse("127.0.0.10").unwrap();
    })
    .await;
    let victim = app.simple_client("ledger", "read").await;
    let proxy = from("127.0.0.10");
    let send = async |http: &reqwest::Client, forwarded_for: &str, auth: &str| {
        forwarded_token_status(http, &app, Some(forwarded_for), auth).await
    };
    let wrong = basic("ledger", "guess");
    for _ in 0..25 {
        send(&proxy, "203.0.113.9", &wrong).await;
    }
    let good = basic(&victim.id, &victim.secret);
    assert_eq!(
        send(&proxy, "203.0.113.9", &good).await,
        429,
        "the attacker behind the proxy"
    );
    assert_eq!(
        send(&proxy, "198.51.100.4", &good).await,
        200,
        "another client behind it"
    );
    // From an untrusted peer the header is ignored: its own address counts.
    let direct = from("127.0.0.11");
    for _ in 0..25 {
        send(&direct, "198.51.100.4", &wrong).await;
    }
    assert_eq!(send(&direct, "198.51.100.4", &good).await, 429);
    assert_eq!(
        send(&proxy, "198.51.100.4", &good).await,
        200,
        "the spoofed address was not blamed"
    );
}
