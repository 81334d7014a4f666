//! Federation against real issuers (SPEC §8): the real binary trusts
//! Kubernetes-, GitHub-Actions- and SPIFFE-shaped issuers served by
//! `workload_issuer.py` (PyJWT signs the tokens, with the claims those
//! platforms put in them), configured with the CLI as the README shows.
//! Hostile issuers (slow, HTML, redirecting, a 2 MiB JWKS) give a clear
//! error, never a hang, and never hold up another provider.

use crate::process::Tokend;
use crate::{interop_dir, python};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Issuers {
    child: Child,
    port: u16,
}

impl Issuers {
    fn start() -> Self {
        let mut child = Command::new(python())
            .arg(interop_dir().join("workload_issuer.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("workload_issuer.py starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the issuer prints its port");
        Self { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn mint(&self, name: &str, params: serde_json::Value) -> String {
        let body: serde_json::Value = blocking(async {
            reqwest::Client::new()
                .post(self.url(&format!("/mint/{name}")))
                .json(&params)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        body["token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Issuers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn blocking<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// POST /token with the jwt-bearer grant or as a client assertion.
fn exchange(server: &Tokend, jwt: &str, grant: bool, extra: &str) -> (u16, serde_json::Value) {
    let body = if grant {
        format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}{extra}"
        )
    } else {
        format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={jwt}{extra}"
        )
    };
    blocking(async {
        let resp = reqwest::Client::new()
            .post(server.url("/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    })
}

/// The first exchange after the CLI configured tokend: the server hears of
/// the change through its change feed (within 2 s, SPEC §8).
fn first_exchange(server: &Tokend, jwt: &str, grant: bool) -> (u16, serde_json::Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let (code, body) = exchange(server, jwt, grant, "");
        if code == 200 || std::time::Instant::now() > deadline {
            return (code, body);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn ok(server: &Tokend, args: &[&str]) -> serde_json::Value {
    let (code, json, stderr) = server.cli(args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    json
}

/// A CLI command line as the README writes it (no argument has a space).
fn run(server: &Tokend, line: &str) -> serde_json::Value {
    ok(server, &line.split_whitespace().collect::<Vec<_>>())
}

/// The Kubernetes provider `k8s` at the test issuer, and the federated
/// client `orders` bound to service accounts matching `subject`.
fn k8s_orders(server: &Tokend, issuers: &Issuers, subject: &str) {
    run(
        server,
        &format!(
            "trust add k8s --issuer {} --kind kubernetes --discovery --allow-http",
            issuers.url("/k8s")
        ),
    );
    run(
        server,
        "client create --name orders --id orders --auth-method federated --scope orders:read",
    );
    run(
        server,
        &format!("client bind orders --provider k8s --subject {subject}"),
    );
}

fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn kubernetes_github_and_spiffe_workloads_get_tokens_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let issuers = Issuers::start();
    let server = Tokend::start(&Tokend::sqlite_env(dir.path()), dir.path());
    let aud = server.issuer();

    // Kubernetes: discovery at the API server's issuer.
    k8s_orders(&server, &issuers, "system:serviceaccount:prod:orders");
    let k8s = issuers.mint(
        "k8s",
        serde_json::json!({"aud": aud, "namespace": "prod", "serviceaccount": "orders"}),
    );
    let (code, body) = first_exchange(&server, &k8s, false);
    assert_eq!(code, 200, "{body}");
    let claims = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(claims["client_id"], "orders");
    assert_eq!(claims["iss"], aud.as_str());
    // A pod of another service account is refused, and says why.
    let other = issuers.mint(
        "k8s",
        serde_json::json!({"aud": aud, "namespace": "prod", "serviceaccount": "billing"}),
    );
    let (code, body) = exchange(&server, &other, false, "");
    assert_eq!(code, 401);
    assert!(
        body["error_description"].as_str().unwrap().contains(
            "no binding of trust provider k8s matches subject system:serviceaccount:prod:billing"
        ),
        "{body}"
    );
    // A token living longer than the bound (Kubernetes allows up to days).
    let long = issuers.mint("k8s", serde_json::json!({"aud": aud, "namespace": "prod", "serviceaccount": "orders", "lifetime": 48 * 3600}));
    let (code, body) = exchange(&server, &long, true, "");
    assert_eq!(code, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("max lifetime"),
        "{body}"
    );

    // GitHub Actions: the binding names the owner by id.
    ok(
        &server,
        &[
            "trust",
            "add",
            "github",
            "--issuer",
            &issuers.url("/gh"),
            "--kind",
            "github-actions",
            "--allow-http",
        ],
    );
    ok(
        &server,
        &[
            "client",
            "create",
            "--name",
            "deployer",
            "--id",
            "deployer",
            "--auth-method",
            "federated",
        ],
    );
    let (code, _, stderr) = server.cli(&[
        "client",
        "bind",
        "deployer",
        "--provider",
        "github",
        "--subject",
        "repo:acme/api:ref:refs/heads/main",
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("repository_owner_id"), "{stderr}");
    ok(
        &server,
        &[
            "client",
            "bind",
            "deployer",
            "--provider",
            "github",
            "--subject",
            "repo:acme/*:ref:refs/heads/main",
            "--claim",
            "repository_owner_id=4242",
        ],
    );
    let gh = issuers.mint(
        "gh",
        serde_json::json!({"aud": aud, "repository": "acme/api", "repository_owner_id": "4242"}),
    );
    let (code, body) = first_exchange(&server, &gh, true);
    assert_eq!(code, 200, "{body}");
    let squatter = issuers.mint(
        "gh",
        serde_json::json!({"aud": aud, "repository": "acme/api", "repository_owner_id": "9"}),
    );
    assert_eq!(exchange(&server, &squatter, true, "").0, 400);
    // trust test explains it from the CLI, exit 0 for the good token.
    let report = ok(&server, &["trust", "test", "github", &gh]);
    assert_eq!(report["would_issue"], true, "{report}");
    assert_eq!(report["client_id"], "deployer");
    let (code, report, _) = server.cli(&["trust", "test", "github", &squatter]);
    assert_eq!(code, 1);
    assert_eq!(report["bindings"][0]["matches"], false, "{report}");

    // SPIFFE: a bundle endpoint whose keys have no alg; EC and RSA SVIDs.
    ok(
        &server,
        &[
            "trust",
            "add",
            "spire",
            "--issuer",
            "spiffe://example.org",
            "--kind",
            "spiffe",
            "--jwks-uri",
            &issuers.url("/spiffe/bundle"),
            "--allow-http",
            "--audience",
            &aud,
        ],
    );
    ok(
        &server,
        &[
            "client",
            "create",
            "--name",
            "ledger",
            "--id",
            "ledger",
            "--auth-method",
            "federated",
        ],
    );
    ok(
        &server,
        &[
            "client",
            "bind",
            "ledger",
            "--provider",
            "spire",
            "--subject",
            "spiffe://example.org/ns/*/sa/ledger",
        ],
    );
    for kind in ["spiffe", "spiffe-rsa"] {
        let svid = issuers.mint(
            kind,
            serde_json::json!({"aud": aud, "spiffe_id": "spiffe://example.org/ns/prod/sa/ledger"}),
        );
        let (code, body) = first_exchange(&server, &svid, false);
        assert_eq!(code, 200, "{kind}: {body}");
    }
    // Another trust domain's SVID finds no provider.
    let foreign = issuers.mint(
        "spiffe",
        serde_json::json!({"aud": aud, "spiffe_id": "spiffe://evil.org/ns/prod/sa/ledger"}),
    );
    let (code, body) = exchange(&server, &foreign, true, "");
    assert_eq!(code, 400, "{body}");

    // client show lists the bindings; the keys were fetched, not per request.
    let shown = ok(&server, &["client", "show", "deployer"]);
    assert_eq!(
        shown["bindings"][0]["claims"]["repository_owner_id"],
        "4242"
    );
    let fetches: serde_json::Value = blocking(async {
        reqwest::get(issuers.url("/count/k8s/openid/v1/jwks"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(
        fetches["count"], 1,
        "one JWKS fetch for every Kubernetes request"
    );
}

#[test]
fn hostile_issuers_give_clear_errors_and_never_hold_up_other_providers() {
    let dir = tempfile::tempdir().unwrap();
    let issuers = Issuers::start();
    let mut env = Tokend::sqlite_env(dir.path());
    env.push(("TOKEND_FEDERATION__FETCH_TIMEOUT".into(), "2s".into()));
    let server = Tokend::start(&env, dir.path());
    let aud = server.issuer();
    k8s_orders(&server, &issuers, "system:serviceaccount:prod:*");
    for name in ["slow", "html", "redirect", "huge"] {
        ok(
            &server,
            &[
                "trust",
                "add",
                name,
                "--issuer",
                &issuers.url(&format!("/{name}")),
                "--allow-http",
            ],
        );
    }
    // A token naming each hostile issuer (signed by the k8s key: they never
    // get as far as a signature check).
    let token_of = |name: &str| {
        let good = issuers.mint(
            "k8s",
            serde_json::json!({"aud": aud, "namespace": "prod", "serviceaccount": "orders"}),
        );
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut claims = claims_of(&good);
        claims["iss"] = serde_json::json!(issuers.url(&format!("/{name}")));
        use base64::Engine;
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
        parts.join(".")
    };
    // k8s's keys are cached; then the slow issuer's fetch is in flight
    // while k8s requests are answered.
    let warm = issuers.mint(
        "k8s",
        serde_json::json!({"aud": aud, "namespace": "prod", "serviceaccount": "orders"}),
    );
    assert_eq!(first_exchange(&server, &warm, true).0, 200);
    let slow_token = token_of("slow");
    let url = server.url("/token");
    let slow = std::thread::spawn(move || {
        blocking(async {
            let resp = reqwest::Client::new()
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={slow_token}"))
                .send()
                .await
                .unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        })
    });
    // Wait until the slow discovery request has reached the issuer.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while blocking(async {
        reqwest::get(issuers.url("/count/slow/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["count"]
            == 0
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow fetch never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let good = issuers.mint(
        "k8s",
        serde_json::json!({"aud": aud, "namespace": "prod", "serviceaccount": "orders"}),
    );
    let (code, body) = exchange(&server, &good, true, "");
    assert_eq!(code, 200, "{body}");
    assert!(
        !slow.is_finished(),
        "k8s was answered while the slow fetch was in flight"
    );
    let (code, body) = slow.join().unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("trust provider slow"),
        "{body}"
    );

    for (name, reason) in [
        ("html", "not a metadata document"),
        ("redirect", "redirect to another origin refused"),
        ("huge", "larger than 1024 KiB"),
    ] {
        let (code, body) = exchange(&server, &token_of(name), true, "");
        assert_eq!(code, 503, "{name}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(&format!("trust provider {name}"))
        );
        // `trust test` shows the operator why.
        let (code, report, _) = server.cli(&["trust", "test", name, &token_of(name)]);
        assert_eq!(code, 1);
        let detail = report["checks"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(detail.contains(reason), "{name}: {report}");
    }
    // The redirect target was never asked.
    let asked: serde_json::Value = blocking(async {
        reqwest::get(format!(
            "http://127.0.0.2:{}/count/k8s/.well-known/openid-configuration",
            issuers.port
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
    });
    assert_eq!(asked["count"], 0, "{asked}");
}
