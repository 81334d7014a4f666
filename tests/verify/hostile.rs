//! Issuers that misbehave, served by a tiny HTTP server of the test's own:
//! a metadata `jwks_uri` on another origin (an internal address), redirects
//! to another origin, a JWKS over 1 MiB, an issuer with a path (RFC 8414
//! §3.1 insertion), and an issuer that accepts connections but never answers
//! while five requests wait on a cold cache.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokend_verify::{Verifier, VerifyError};

type Route = (String, u16, Vec<(String, String)>, Vec<u8>);

/// Answers GETs from a fixed table of (path, status, headers, body); counts
/// the requests it saw.
struct FakeIssuer {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl FakeIssuer {
    fn start(ip: &str, routes: impl Fn(&str) -> Vec<Route> + Send + 'static) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let base = format!("http://{ip}:{}", listener.local_addr().unwrap().port());
        let table = routes(&base);
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let (status, headers, body) = table
                    .iter()
                    .find(|(p, ..)| *p == path)
                    .map(|(_, s, h, b)| (*s, h.clone(), b.clone()))
                    .unwrap_or((404, vec![], b"{}".to_vec()));
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        Self { base, hits }
    }
}

fn json_route(path: &str, body: serde_json::Value) -> Route {
    (
        path.to_owned(),
        200,
        vec![("Content-Type".into(), "application/json".into())],
        body.to_string().into_bytes(),
    )
}

const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

async fn refresh_error(verifier: &Verifier) -> String {
    match verifier.refresh().await {
        Err(VerifyError::KeysUnavailable(m)) => m,
        other => panic!("expected KeysUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_jwks_uri_on_another_origin_is_refused_unless_allowed() {
    let internal = FakeIssuer::start("127.0.0.2", |_| {
        vec![json_route(
            "/jwks.json",
            serde_json::from_str(JWKS).unwrap(),
        )]
    });
    let target = format!("{}/jwks.json", internal.base);
    let issuer = FakeIssuer::start("127.0.0.1", move |base| {
        vec![json_route(
            "/.well-known/oauth-authorization-server",
            serde_json::json!({"issuer": base, "jwks_uri": target}),
        )]
    });
    let strict = Verifier::builder(&issuer.base)
        .any_audience()
        .build()
        .unwrap();
    let e = refresh_error(&strict).await;
    assert!(e.contains("not on the issuer's origin"), "{e}");
    assert_eq!(
        internal.hits.load(Ordering::SeqCst),
        0,
        "the internal address was never asked"
    );
    let open = Verifier::builder(&issuer.base)
        .any_audience()
        .allow_cross_origin_jwks()
        .build()
        .unwrap();
    assert_eq!(open.refresh().await.unwrap(), 1);
}

#[tokio::test]
async fn redirects_to_another_origin_are_not_followed() {
    let elsewhere = FakeIssuer::start("127.0.0.3", |_| {
        vec![json_route(
            "/jwks.json",
            serde_json::from_str(JWKS).unwrap(),
        )]
    });
    let away = format!("{}/jwks.json", elsewhere.base);
    let issuer = FakeIssuer::start("127.0.0.1", move |base| {
        vec![
            json_route(
                "/.well-known/oauth-authorization-server",
                serde_json::json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}),
            ),
            (
                "/jwks".into(),
                302,
                vec![("Location".into(), away.clone())],
                vec![],
            ),
        ]
    });
    let verifier = Verifier::builder(&issuer.base)
        .any_audience()
        .build()
        .unwrap();
    let e = refresh_error(&verifier).await;
    assert!(e.contains("redirect"), "{e}");
    assert_eq!(elsewhere.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_jwks_over_one_mebibyte_is_refused() {
    let issuer = FakeIssuer::start("127.0.0.1", |base| {
        let padding = "x".repeat(2 * 1024 * 1024);
        vec![
            json_route(
                "/.well-known/oauth-authorization-server",
                serde_json::json!({"issuer": base, "jwks_uri": format!("{base}/jwks.json")}),
            ),
            json_route(
                "/jwks.json",
                serde_json::json!({"keys": [], "padding": padding}),
            ),
        ]
    });
    let verifier = Verifier::builder(&issuer.base)
        .any_audience()
        .build()
        .unwrap();
    let e = refresh_error(&verifier).await;
    assert!(e.contains("larger than 1024 KiB"), "{e}");
}

#[tokio::test]
async fn an_issuer_with_a_path_is_discovered_by_rfc_8414_insertion() {
    let issuer = FakeIssuer::start("127.0.0.1", |base| {
        vec![
            json_route(
                "/.well-known/oauth-authorization-server/tenant/a",
                serde_json::json!({"issuer": format!("{base}/tenant/a"), "jwks_uri": format!("{base}/tenant/a/jwks.json")}),
            ),
            json_route("/tenant/a/jwks.json", serde_json::from_str(JWKS).unwrap()),
        ]
    });
    let verifier = Verifier::builder(format!("{}/tenant/a", issuer.base))
        .any_audience()
        .build()
        .unwrap();
    assert_eq!(verifier.refresh().await.unwrap(), 1);
}

#[tokio::test]
async fn waiters_on_a_cold_cache_share_one_failed_fetch() {
    // Accepts connections, never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let verifier = Verifier::builder(&base)
        .any_audience()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let calls = (0..5).map(|_| {
        let v = verifier.clone();
        tokio::spawn(async move { v.refresh().await })
    });
    for call in calls {
        assert!(matches!(
            call.await.unwrap(),
            Err(VerifyError::KeysUnavailable(_))
        ));
    }
    // One fetch for all five, and none again within the cooldown.
    assert_eq!(
        verifier.stats().metadata_fetches,
        1,
        "{:?}",
        verifier.stats()
    );
    assert!(verifier.refresh().await.is_err());
    assert_eq!(verifier.stats().metadata_fetches, 1);
    drop(silent);
}
