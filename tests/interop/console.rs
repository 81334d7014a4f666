//! The admin console in Debian's chromium, headless (playwright-core): the
//! whole operator path of SPEC §12 against the real binary, with
//! screenshots of every page at 1280 and 390 px written to
//! target/console-screenshots (not committed).

use crate::process::Tokend;
use crate::{interop_dir, run_verifier};
use std::path::Path;

#[test]
fn an_operator_signs_in_rotates_creates_a_client_revokes_and_signs_out_in_chromium() {
    assert!(
        interop_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run ./test.sh (npm ci in tests/interop)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut env = Tokend::sqlite_env(dir.path());
    env.push(("TOKEND_KEYS__ALGORITHM".to_owned(), "ES256".to_owned()));
    let server = Tokend::start(&env, dir.path());
    let (code, created, err) = server.cli(&[
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
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    server.wait_for_client("ops", &secret);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    let report = run_verifier(
        Path::new("node"),
        "console_browser.mjs",
        &[&server.issuer(), "ops", &secret, shots.to_str().unwrap()],
    );
    assert_eq!(report["login_url"], "/console/login", "{report}");
    assert_eq!(report["cookie"]["httpOnly"], true, "{report}");
    assert_eq!(report["cookie"]["sameSite"], "Strict", "{report}");
    assert_eq!(
        report["cookie"]["secure"], false,
        "plain HTTP here: {report}"
    );
    assert_eq!(report["cookie"]["path"], "/console", "{report}");
    assert_eq!(report["timeline_has_active"], true, "{report}");
    assert_eq!(report["timeline_has_now"], true, "{report}");
    assert_eq!(
        report["unlabelled"],
        serde_json::json!([]),
        "every control labelled: {report}"
    );
    let phone = &report["phone_timeline"];
    assert_eq!(
        phone["shown"],
        serde_json::json!(["timeline narrow"]),
        "{report}"
    );
    assert_eq!(phone["rows"], report["rows_before"], "{report}");
    assert_eq!(phone["scrolls"], false, "{report}");
    assert!(
        phone["smallest_name_px"].as_f64().unwrap() >= 11.0,
        "{report}"
    );
    let (_, keys, _) = server.cli(&["keys", "list"]);
    assert!(
        keys.to_string()
            .contains(report["active_kid"].as_str().unwrap()),
        "{report}"
    );
    assert!(
        report["rotate_explanation"]
            .as_str()
            .unwrap()
            .contains("publish"),
        "{report}"
    );
    assert_eq!(
        report["rows_after"],
        report["rows_before"].as_u64().unwrap() + 1,
        "{report}"
    );
    assert_eq!(report["next_state"], "next", "{report}");
    assert!(
        report["cache_check"].as_str().unwrap().starts_with("Safe"),
        "{report}"
    );
    assert_eq!(report["revoked_state"], "revoked", "{report}");
    assert_eq!(report["token_status"], 200, "{report}");
    assert!(report["audit_rows"].as_u64().unwrap() >= 3, "{report}");
    assert_eq!(report["forged_status"], 403, "{report}");
    assert_eq!(report["after_sign_out"], "/console/login", "{report}");
    assert_eq!(
        report["violations"],
        serde_json::json!([]),
        "no CSP violation: {report}"
    );
    // The CLI sees what the console did.
    let (_, list, _) = server.cli(&["client", "list"]);
    assert!(list.to_string().contains("browser-made"), "{list}");
    for page in [
        "login",
        "keys",
        "clients",
        "client-new",
        "client",
        "trust",
        "audit",
    ] {
        for width in [1280, 390] {
            assert!(
                shots.join(format!("{page}-{width}.png")).exists(),
                "{page}-{width}"
            );
        }
    }
}
