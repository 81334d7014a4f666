//! Start-up: the embedded default creates what it needs; a missing or wrong
//! master key over existing data is refused; bad settings are named.

use crate::helpers::*;
use std::sync::Arc;
use tokend::admin::Admin;
use tokend::app::Application;
use tokend::clock::SystemClock;

#[tokio::test]
async fn first_start_creates_master_key_and_first_signing_key() {
    let app = spawn_app().await;
    let path = app.dir.path().join("master.key");
    assert!(path.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let keys = app.admin().list_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(serde_json::to_value(keys[0].state).unwrap(), "active");
}

#[tokio::test]
async fn restart_keeps_the_same_active_key() {
    let app = spawn_app().await;
    let before = app.admin().list_keys().await.unwrap()[0].kid.clone();
    let again = Application::build(
        {
            let mut s = app.settings.clone();
            s.listen = "127.0.0.1:0".into();
            s
        },
        Arc::new(SystemClock),
    )
    .await
    .expect("second start on the same database");
    let after = again.state().admin.list_keys().await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].kid, before);
}

#[tokio::test]
async fn wrong_master_key_is_refused() {
    let app = spawn_app().await;
    let mut settings = app.settings.clone();
    let other = app.dir.path().join("other.key");
    std::fs::write(
        &other,
        tokend::keys::MasterKey::generate().to_base64().as_str(),
    )
    .unwrap();
    settings.master_key_file = other;
    let err = Admin::open(Arc::new(settings), Arc::new(SystemClock))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[tokio::test]
async fn missing_master_key_with_existing_keys_is_refused() {
    let app = spawn_app().await;
    let mut settings = app.settings.clone();
    settings.master_key_file = app.dir.path().join("gone.key");
    let err = Admin::open(Arc::new(settings), Arc::new(SystemClock))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(
        !app.dir.path().join("gone.key").exists(),
        "no new key set is made silently"
    );
}

#[tokio::test]
async fn inline_master_key_wins_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::new(dir.path()).await;
    let mut settings = test_settings(dir.path(), &db.url);
    let key = tokend::keys::MasterKey::generate();
    settings.master_key = Some(secrecy::SecretString::from(key.to_base64().to_string()));
    let admin = Admin::open(Arc::new(settings), Arc::new(SystemClock))
        .await
        .unwrap();
    assert!(!dir.path().join("master.key").exists());
    assert_eq!(
        admin.master_key_source,
        tokend::keys::MasterKeySource::Inline
    );
}
