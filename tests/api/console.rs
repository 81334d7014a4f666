//! The admin console (SPEC §12) over HTTP: sign-in and its cookie, CSRF on
//! every change, the strict CSP, and that console and admin functions see
//! the same state.

use crate::helpers::*;
use futures_util::StreamExt;
use tokend::admin::{NewClient, ScopesInput};

/// A client with no cookie store and no redirects: each test looks at the
/// cookies and redirects itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn admin_client(app: &TestApp) -> TestClient {
    app.create_client(NewClient {
        name: "ops".into(),
        client_id: Some("ops".into()),
        scopes: ScopesInput::Text("tokend:admin".into()),
        ..NewClient::default()
    })
    .await
}

/// Signs in as a browser does: the form (with its CSRF cookie), then the post.
async fn sign_in(
    app: &TestApp,
    http: &reqwest::Client,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    let form = http
        .get(format!("{}/console/login", app.address))
        .send()
        .await
        .unwrap();
    let cookie = form.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = form.text().await.unwrap();
    let at = html
        .find(r#"name="login_csrf" value=""#)
        .expect("a sign-in token");
    let rest = &html[at + r#"name="login_csrf" value=""#.len()..];
    let token = rest[..rest.find('"').unwrap()].to_owned();
    http.post(format!("{}/console/login", app.address))
        .header("cookie", cookie)
        .form(&[
            ("client_id", id),
            ("client_secret", secret),
            ("login_csrf", token.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

/// The session cookie (`name=value`) of a successful sign-in.
async fn session(app: &TestApp, http: &reqwest::Client) -> String {
    let ops = admin_client(app).await;
    let resp = sign_in(app, http, &ops.id, &ops.secret).await;
    if resp.status().as_u16() != 303 {
        panic!("{}", resp.text().await.unwrap());
    }
    let set = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("tokend_console="), "{set}");
    set.split(';').next().unwrap().to_owned()
}

async fn get(app: &TestApp, http: &reqwest::Client, cookie: &str, path: &str) -> (u16, String) {
    let resp = http
        .get(format!("{}{path}", app.address))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn post(
    app: &TestApp,
    http: &reqwest::Client,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http.post(format!("{}{path}", app.address))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The CSRF token in a page's forms.
fn csrf(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a CSRF field");
    let rest = &html[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_that_ends_with_the_token() {
    let app = spawn_app().await;
    let http = browser();
    let resp = http
        .get(format!("{}/console", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/console/login");

    let resp = http
        .get(format!("{}/console/login", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("<script") && !html.contains("style="),
        "no inline script or style"
    );
    assert!(html.contains(r#"<label for="client_secret">"#));

    let ops = admin_client(&app).await;
    // A sign-in posted from elsewhere (no form token and cookie) is refused
    // before the secret is even checked.
    let forged = http
        .post(format!("{}/console/login", app.address))
        .form(&[
            ("client_id", ops.id.as_str()),
            ("client_secret", ops.secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let wrong = sign_in(&app, &http, &ops.id, "not-the-secret").await;
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(
        wrong
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("tokend_console=")),
        "no session cookie"
    );
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("wrong client id or secret")
    );

    let resp = sign_in(&app, &http, &ops.id, &ops.secret).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/console/keys");
    let set = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("tokend_console="))
        .unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=3600",
    ] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(!set.contains("Secure"), "no Secure over plain HTTP: {set}");
    let cookie = set.split(';').next().unwrap();
    // The cookie is the console's own admin token.
    let token = cookie.split_once('=').unwrap().1;
    assert_eq!(crate::certs::jwt_claims(token)["scope"], "tokend:admin");

    // A client without the admin scope is refused.
    let plain = app.simple_client("plain", "read").await;
    let resp = sign_in(&app, &http, &plain.id, &plain.secret).await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("may not have the tokend:admin scope")
    );
}

#[tokio::test]
async fn the_keys_page_draws_the_timeline_and_rotation_needs_the_csrf_token() {
    let app = spawn_app().await;
    let http = browser();
    let cookie = session(&app, &http).await;
    let active = app.admin().list_keys().await.unwrap()[0].kid.clone();
    let (status, html) = get(&app, &http, &cookie, "/console/keys").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!(r#"data-kid="{active}""#)), "{html}");
    assert!(html.contains(r#"class="seg active""#));
    assert!(html.contains(r#"class="marker now""#));

    // The confirmation says what verifiers will see.
    let (_, confirm) = get(&app, &http, &cookie, "/console/keys/rotate?now=1").await;
    assert!(confirm.contains("unknown kid"), "{confirm}");

    // Without the CSRF token: 403, nothing rotates.
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/keys/rotate",
        &[("now", "1")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 403);
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/keys/rotate",
        &[("now", "1"), ("csrf", "forged")],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(app.admin().list_keys().await.unwrap().len(), 1);

    let token = csrf(&confirm);
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/keys/rotate",
        &[("now", "1"), ("csrf", &token)],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 303);
    let keys = app.admin().list_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    let (_, html) = get(&app, &http, &cookie, "/console/keys?done=rotated-now").await;
    assert!(html.contains(&format!(r#"data-kid="{}""#, keys[0].kid)));

    // The cache check answers as `keys check`.
    let (_, html) = get(&app, &http, &cookie, "/console/keys?cache_age=10m").await;
    assert!(html.contains(r#"id="check-answer""#), "{html}");
}

#[tokio::test]
async fn clients_made_in_the_console_and_elsewhere_are_the_same_clients() {
    let app = spawn_app().await;
    let http = browser();
    let cookie = session(&app, &http).await;
    let (_, form) = get(&app, &http, &cookie, "/console/clients/new").await;
    let token = csrf(&form);
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/clients",
        &[
            ("csrf", &token),
            ("client_id", "web-made"),
            ("name", "Made in the console"),
            ("scopes", "read write"),
            ("audiences", "https://api.example"),
            ("quota", "100/h"),
            ("quota_mode", "enforce"),
            ("exchange", "true"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    let html = resp.text().await.unwrap();
    let at = html
        .find(r#"id="new-secret" class="secret" readonly value=""#)
        .unwrap();
    let rest = &html[at + r#"id="new-secret" class="secret" readonly value=""#.len()..];
    let secret = rest[..rest.find('"').unwrap()].to_owned();
    // The secret works at /token, and the admin functions see the client.
    let made = TestClient {
        id: "web-made".into(),
        secret,
    };
    let resp = app.token_for(&made, "grant_type=client_credentials").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["ratelimit-policy"],
        r#""tokens";q=100;w=3600"#
    );
    let view = app.admin().get_client("web-made").await.unwrap();
    assert_eq!(view.scopes, "read write");
    assert!(
        view.grant_types
            .contains(&"urn:ietf:params:oauth:grant-type:token-exchange")
    );

    // A client made elsewhere is listed and found.
    app.simple_client("made-by-cli", "read").await;
    let (_, list) = get(&app, &http, &cookie, "/console/clients").await;
    assert!(list.contains("made-by-cli") && list.contains("web-made"));
    let (_, found) = get(&app, &http, &cookie, "/console/clients?q=BY-CLI").await;
    assert!(
        found.contains("made-by-cli") && !found.contains("web-made"),
        "{found}"
    );

    // Disable from the console: /token refuses at once.
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/clients/web-made/disable",
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(!app.admin().get_client("web-made").await.unwrap().enabled);
    let resp = app.token_for(&made, "grant_type=client_credentials").await;
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn sign_out_revokes_the_session_and_the_audit_page_filters() {
    let app = spawn_app().await;
    let http = browser();
    let cookie = session(&app, &http).await;
    app.simple_client("audited", "read").await;
    let (_, html) = get(
        &app,
        &http,
        &cookie,
        "/console/audit?action=client.created&subject=audited",
    )
    .await;
    assert!(html.contains("<td>audited</td>"), "{html}");
    assert!(!html.contains("<td>ops</td>"), "filtered by subject");

    let (_, page) = get(&app, &http, &cookie, "/console/keys").await;
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/logout",
        &[("csrf", &csrf(&page))],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 303);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie no longer opens anything: its token was revoked.
    let resp = http
        .get(format!("{}/console/keys", app.address))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/console/login");
}

#[tokio::test]
async fn wrong_secrets_at_the_console_are_limited_like_at_token() {
    let app = spawn_app().await;
    let http = browser();
    let ops = admin_client(&app).await;
    let mut last = 0;
    for _ in 0..25 {
        last = sign_in(&app, &http, &ops.id, "wrong")
            .await
            .status()
            .as_u16();
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn workload_bindings_are_added_and_removed_on_the_client_page() {
    let app = spawn_app().await;
    let http = browser();
    let cookie = session(&app, &http).await;
    let k8s = crate::federation::Issuer::new("https://k8s.test", tokend::domain::Algorithm::ES256);
    app.admin()
        .add_trust_provider(tokend::admin::NewTrustProvider {
            name: "k8s".into(),
            issuer: Some(k8s.iss.clone()),
            kind: Some("kubernetes".into()),
            jwks: Some(k8s.jwks()),
            ..Default::default()
        })
        .await
        .unwrap();
    app.create_client(NewClient {
        name: "orders".into(),
        client_id: Some("orders".into()),
        auth_method: Some("federated".into()),
        ..NewClient::default()
    })
    .await;
    let (_, page) = get(&app, &http, &cookie, "/console/clients/orders").await;
    assert!(
        page.contains("No binding.") && page.contains(r#"<option>k8s</option>"#),
        "{page}"
    );
    let token = csrf(&page);
    let subject = "system:serviceaccount:shop:orders";
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/clients/orders/bind",
        &[
            ("csrf", &token),
            ("provider", "k8s"),
            ("subject", subject),
            ("claims", ""),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let bindings = app.admin().client_bindings("orders").await.unwrap();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].subject, subject);
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/clients/orders/bind",
        &[
            ("csrf", &token),
            ("provider", "k8s"),
            ("subject", "x"),
            ("claims", "nonsense"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 400);
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/clients/orders/unbind",
        &[("csrf", &token), ("provider", "k8s"), ("subject", subject)],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        app.admin()
            .client_bindings("orders")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn certificate_identities_of_every_kind_are_set_from_the_client_form() {
    let app = spawn_app().await;
    let http = browser();
    let cookie = session(&app, &http).await;
    let (_, form) = get(&app, &http, &cookie, "/console/clients/new").await;
    let token = csrf(&form);
    let resp = post(
        &app,
        &http,
        &cookie,
        "/console/clients",
        &[
            ("csrf", &token),
            ("client_id", "orders"),
            ("name", "orders"),
            ("scopes", "read"),
            ("quota", "default"),
            ("quota_mode", "enforce"),
            ("tls_kind", "subject_dn"),
            ("tls_value", "CN=orders, O=Example"),
        ],
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
    let view = app.admin().get_client("orders").await.unwrap();
    assert_eq!(view.auth_method.as_str(), "tls_client_auth");
    assert_eq!(
        serde_json::to_value(&view.tls_identity).unwrap()["subject_dn"],
        "CN=orders,O=Example"
    );

    // The edit form shows it; saving unchanged keeps it; another kind replaces it.
    let (_, page) = get(&app, &http, &cookie, "/console/clients/orders").await;
    assert!(
        page.contains(r#"<option value="subject_dn" selected>"#),
        "{page}"
    );
    let base = [
        ("csrf", token.as_str()),
        ("name", "orders"),
        ("scopes", "read"),
        ("quota", "default"),
        ("quota_mode", "enforce"),
    ];
    let mut unchanged = base.to_vec();
    unchanged.extend([
        ("tls_kind", "subject_dn"),
        ("tls_value", "CN=orders,O=Example"),
    ]);
    assert_eq!(
        post(&app, &http, &cookie, "/console/clients/orders", &unchanged)
            .await
            .status()
            .as_u16(),
        200
    );
    let mut dns = base.to_vec();
    dns.extend([("tls_kind", "san_dns"), ("tls_value", "orders.shop.svc")]);
    assert_eq!(
        post(&app, &http, &cookie, "/console/clients/orders", &dns)
            .await
            .status()
            .as_u16(),
        200
    );
    let view = app.admin().get_client("orders").await.unwrap();
    assert_eq!(
        serde_json::to_value(&view.tls_identity).unwrap()["san_dns"],
        "orders.shop.svc"
    );
    // A malformed DN is refused with the admin function's words.
    let mut bad = base.to_vec();
    bad.extend([("tls_kind", "subject_dn"), ("tls_value", "not a dn")]);
    let resp = post(&app, &http, &cookie, "/console/clients/orders", &bad).await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("tls_client_auth_subject_dn")
    );
}

/// The ids on a clients page, in order, and its "Next page" link.
fn client_rows(html: &str) -> (Vec<String>, Option<String>) {
    let ids = html
        .split(r#"<td><a href="/console/clients/"#)
        .skip(1)
        .map(|row| row[..row.find('"').unwrap()].to_owned())
        .collect();
    let next = html.find(r#"rel="next""#).map(|_| {
        let at = html.rfind(r#"<a href="/console/clients?"#).unwrap() + r#"<a href=""#.len();
        html[at..at + html[at..].find('"').unwrap()].replace("&amp;", "&")
    });
    (ids, next)
}

#[tokio::test]
async fn ten_thousand_clients_page_by_fifty_and_search_finds_the_few() {
    let app = spawn_app().await;
    let http = browser();
    let cookie = session(&app, &http).await;
    // 10,000 clients (as a busy deployment has), a few with a telling name.
    let admin = app.admin().clone();
    let made = futures_util::stream::iter(0..10_000)
        .map(|i| {
            let admin = admin.clone();
            async move {
                let name = if i % 2_500 == 7 {
                    format!("Billing Gateway {i}")
                } else {
                    format!("service {i}")
                };
                admin
                    .create_client(NewClient {
                        name,
                        client_id: Some(format!("svc-{i:05}")),
                        scopes: ScopesInput::Text("read".into()),
                        ..NewClient::default()
                    })
                    .await
                    .expect("client created")
            }
        })
        .buffer_unordered(16)
        .count()
        .await;
    assert_eq!(made, 10_000);

    // Every client once, in id order, fifty to a page, by the Next links.
    let mut seen = Vec::new();
    let mut path = "/console/clients".to_owned();
    let mut pages = 0;
    loop {
        let (status, html) = get(&app, &http, &cookie, &path).await;
        assert_eq!(status, 200);
        let (ids, next) = client_rows(&html);
        pages += 1;
        match next {
            Some(next) => {
                assert_eq!(ids.len(), 50, "a full page before the last");
                path = next;
            }
            None => {
                seen.extend(ids);
                break;
            }
        }
        seen.extend(ids);
    }
    assert_eq!(pages, 201);
    assert_eq!(seen.len(), 10_001, "ops and the 10,000");
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in order, none twice");
    let (_, first) = get(&app, &http, &cookie, "/console/clients").await;
    assert!(!first.contains(r#"rel="first""#));
    let (_, later) = get(&app, &http, &cookie, "/console/clients?after=svc-05000").await;
    assert_eq!(client_rows(&later).0[0], "svc-05001");
    assert!(later.contains(r#"<a href="/console/clients?q=" rel="first">"#));

    // Search by name, any case; by part of an id; across pages of results.
    let (_, html) = get(&app, &http, &cookie, "/console/clients?q=BILLING+gateway").await;
    let (ids, next) = client_rows(&html);
    assert_eq!(ids, ["svc-00007", "svc-02507", "svc-05007", "svc-07507"]);
    assert!(next.is_none());
    let (_, html) = get(&app, &http, &cookie, "/console/clients?q=svc-0999").await;
    assert_eq!(client_rows(&html).0.len(), 10, "svc-09990 … svc-09999");
    let (_, html) = get(&app, &http, &cookie, "/console/clients?q=svc-0").await;
    let (first, next) = client_rows(&html);
    assert_eq!(first.len(), 50);
    let next = next.expect("more matches than a page");
    assert!(
        next.contains("q=svc-0"),
        "the next page keeps the search: {next}"
    );
    let (_, html) = get(&app, &http, &cookie, &next).await;
    assert_eq!(client_rows(&html).0[0], "svc-00050");
    // LIKE's wildcards are text, not patterns.
    let (_, html) = get(&app, &http, &cookie, "/console/clients?q=svc_0%25").await;
    assert!(client_rows(&html).0.is_empty());
    assert!(html.contains("No client matches"));
}

#[tokio::test]
async fn a_console_switched_off_is_not_served() {
    let app = spawn_app_with(|s| s.admin.console = false).await;
    let http = browser();
    for path in ["/console", "/console/login", "/console/assets/console.css"] {
        let resp = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{path}");
    }
    // The rest of tokend is there.
    let ops = admin_client(&app).await;
    let resp = app.token_for(&ops, "grant_type=client_credentials").await;
    assert_eq!(resp.status().as_u16(), 200);
}
