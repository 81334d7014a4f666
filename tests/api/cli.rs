//! The real binary against the database of a running server: a client
//! created, disabled or deleted from the CLI takes effect within 2 seconds.

use crate::helpers::*;
use std::process::Command;
use std::time::Duration;

fn tokend(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(args)
        .env("TOKEND_DATABASE_URL", app.settings.database_url.as_str())
        .env("TOKEND_MASTER_KEY_FILE", &app.settings.master_key_file)
        .env("TOKEND_ISSUER", &app.issuer)
        .env_remove("RUST_LOG")
        .output()
        .expect("tokend runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("one JSON document expected ({e}): {stdout}"))
}

#[tokio::test]
async fn cli_changes_reach_the_running_server_within_two_seconds() {
    let app = spawn_app().await;
    let (code, out, err) = tokend(
        &app,
        &[
            "client",
            "create",
            "--name",
            "cron",
            "--id",
            "cron:nightly",
            "--scope",
            "read write",
            "--audience",
            "https://api.example",
            "--ttl",
            "15m",
            "--claim",
            "team=data",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let created = json(&out);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["client_id"], "cron:nightly");
    let client = TestClient {
        id: "cron:nightly".into(),
        secret,
    };
    let body = "grant_type=client_credentials";

    let issued = eventually(Duration::from_secs(2), || async {
        app.token_for(&client, body).await.status().as_u16() == 200
    })
    .await;
    assert!(issued, "a client created by the CLI gets tokens within 2 s");
    let token: serde_json::Value = app.token_for(&client, body).await.json().await.unwrap();
    assert_eq!(token["expires_in"], 900);
    let claims = app
        .verify(
            token["access_token"].as_str().unwrap(),
            "https://api.example",
        )
        .await;
    assert_eq!(claims["team"], "data");

    // The secret is never shown again.
    let (code, out, _) = tokend(&app, &["client", "show", "cron:nightly", "--json"]);
    assert_eq!(code, 0);
    let shown = json(&out);
    assert!(shown.get("client_secret").is_none());
    assert!(!out.contains(&client.secret));

    let (code, _, err) = tokend(&app, &["client", "disable", "cron:nightly"]);
    assert_eq!(code, 0, "{err}");
    let refused = eventually(Duration::from_secs(2), || async {
        app.token_for(&client, body).await.status().as_u16() == 401
    })
    .await;
    assert!(
        refused,
        "a client disabled by the CLI is refused within 2 s"
    );

    let (code, _, _) = tokend(&app, &["client", "enable", "cron:nightly"]);
    assert_eq!(code, 0);
    assert!(
        eventually(Duration::from_secs(2), || async {
            app.token_for(&client, body).await.status().as_u16() == 200
        })
        .await
    );

    let (code, out, _) = tokend(&app, &["client", "rotate-secret", "cron:nightly", "--json"]);
    assert_eq!(code, 0);
    let new_secret = json(&out)["client_secret"].as_str().unwrap().to_owned();
    assert!(
        eventually(Duration::from_secs(2), || async {
            app.token_for(&client, body).await.status().as_u16() == 401
        })
        .await,
        "the old secret stops working"
    );
    let rotated = TestClient {
        id: client.id.clone(),
        secret: new_secret,
    };
    assert_eq!(app.token_for(&rotated, body).await.status().as_u16(), 200);

    let (code, _, _) = tokend(&app, &["client", "delete", "cron:nightly", "--json"]);
    assert_eq!(code, 0);
    assert!(
        eventually(Duration::from_secs(2), || async {
            app.token_for(&rotated, body).await.status().as_u16() == 401
        })
        .await,
        "a client deleted by the CLI is refused within 2 s"
    );
    let (code, out, _) = tokend(&app, &["client", "show", "cron:nightly", "--json"]);
    assert_ne!(code, 0);
    assert!(json(&out)["error"].as_str().unwrap().contains("no client"));
}

#[tokio::test]
async fn cli_lists_clients_and_keys_and_verifies_tokens() {
    let app = spawn_app().await;
    let c = app.simple_client("lister", "read").await;
    let (code, out, _) = tokend(&app, &["client", "list", "--json"]);
    assert_eq!(code, 0);
    let page = json(&out);
    assert_eq!(page["clients"][0]["client_id"], "lister");
    assert!(!out.contains("secret_hash"));

    let (code, out, _) = tokend(&app, &["keys", "list", "--json"]);
    assert_eq!(code, 0);
    let keys = json(&out);
    assert_eq!(keys[0]["state"], "active");
    assert_eq!(keys[0]["alg"], "ES256");

    let token: serde_json::Value = app
        .token_for(&c, "grant_type=client_credentials")
        .await
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let (code, out, _) = tokend(&app, &["token", "verify", token, "--json"]);
    assert_eq!(code, 0, "{out}");
    let verified = json(&out);
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["claims"]["sub"], "lister");
    assert_eq!(verified["binding"], "none");

    let mut tampered = token.to_owned();
    tampered.truncate(token.len() - 4);
    tampered.push_str("AAAA");
    let (code, out, _) = tokend(&app, &["token", "verify", &tampered, "--json"]);
    assert_eq!(code, 1);
    assert_eq!(json(&out)["valid"], false);
}

#[tokio::test]
async fn bad_configuration_is_refused_with_one_line_naming_the_setting() {
    let app = spawn_app().await;
    let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(["keys", "list"])
        .env("TOKEND_DATABASE_URL", app.settings.database_url.as_str())
        .env("TOKEND_KEYS__PUBLISH_AHEAD", "5s")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("keys.publish_ahead"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(["keys", "list"])
        .env("TOKEND_TOKENS__TTL", "soon")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ttl"), "{stderr}");
}

#[tokio::test]
async fn toml_file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokend.toml");
    std::fs::write(
        &file,
        "[tokens]\nttl = \"10m\"\nmax_ttl = \"1h\"\n[keys]\nalgorithm = \"EdDSA\"\n",
    )
    .unwrap();
    let settings = tokend::config::Settings::load(Some(&file)).unwrap();
    assert_eq!(settings.tokens.ttl.as_secs(), 600);
    assert_eq!(settings.keys.algorithm, tokend::domain::Algorithm::EdDSA);
    let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(["--config", file.to_str().unwrap(), "keys", "list"])
        .env("TOKEND_TOKENS__TTL", "2h")
        .env(
            "TOKEND_DATABASE_URL",
            format!("sqlite://{}/t.db", dir.path().display()),
        )
        .env("TOKEND_MASTER_KEY_FILE", dir.path().join("m.key"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tokens.max_ttl"),
        "env ttl 2h over file max_ttl 1h: {stderr}"
    );
}

#[tokio::test]
async fn migrate_applies_migrations_to_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/fresh.db", dir.path().display());
    let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(["migrate", "--json"])
        .env("TOKEND_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&String::from_utf8_lossy(&out.stdout)),
        serde_json::json!({"migrated": true})
    );
    assert!(dir.path().join("fresh.db").exists());
    // Migrations only: no master key is created.
    assert!(!dir.path().join("master.key").exists());
}

/// Read-only commands never create a store: in an empty folder `client list`
/// and `keys list` fail clearly and leave no database, folder or master key.
#[test]
fn read_only_commands_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["client", "list"][..],
        &["keys", "list"],
        &["audit", "list"],
        &["keys", "plan"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("TOKEND_DATABASE_URL")
            .env_remove("TOKEND_MASTER_KEY_FILE")
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("tokend migrate"), "{args:?}: {stderr}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?} created files"
        );
    }
}

/// A misspelled variable is named in a warning; a misspelled TOML key stops
/// the command.
#[test]
fn misspelled_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
        .args(["client", "list"])
        .current_dir(dir.path())
        .env("TOKEND_TOKENS__MAXTTL", "1h")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("TOKEND_TOKENS__MAXTTL"));
    let file = dir.path().join("tokend.toml");
    std::fs::write(&file, "[keyz]\nrotate_every = \"7d\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tokend"))
        .arg("--config")
        .arg(&file)
        .args(["client", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting `keyz"));
}

#[tokio::test]
async fn cli_sets_exchange_and_quota_and_shows_them() {
    let app = spawn_app().await;
    let (code, out, err) = tokend(
        &app,
        &[
            "client",
            "create",
            "--name",
            "edge",
            "--id",
            "edge",
            "--scope",
            "read",
            "--exchange",
            "--quota",
            "100/h",
            "--quota-mode",
            "monitor",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let created = json(&out);
    assert_eq!(
        created["grant_types"],
        serde_json::json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(created["quota"], "100/h");
    assert_eq!(created["quota_mode"], "monitor");

    let (code, out, _) = tokend(&app, &["client", "show", "edge"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("urn:ietf:params:oauth:grant-type:token-exchange"),
        "{out}"
    );
    assert!(out.contains("quota:        100/h (monitor)"), "{out}");

    let (code, out, err) = tokend(
        &app,
        &[
            "client",
            "update",
            "edge",
            "--exchange",
            "false",
            "--quota",
            "none",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let updated = json(&out);
    assert_eq!(
        updated["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(updated["quota"], "none");

    let (code, _, err) = tokend(&app, &["client", "update", "edge", "--quota", "5/s"]);
    assert_ne!(code, 0);
    assert!(err.contains("quota") && err.contains("N/m"), "{err}");
}
