//! Settings: layering, validation, misspellings, redaction.

use super::*;

#[test]
fn defaults_are_valid() {
    Settings::default().validate().expect("defaults validate");
}

#[test]
fn durations_parse_human_forms() {
    assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
    assert_eq!(parse_duration("42"), Ok(Duration::from_secs(42)));
    assert!(parse_duration("soon").is_err());
}

#[test]
fn durations_longer_than_a_century_are_refused_not_wrapped() {
    for text in [
        "100000000d",
        "18446744073709551615",
        "99999999999999999999",
        "3650000d",
    ] {
        let err = parse_duration(text).unwrap_err();
        assert!(
            err.contains("100 years") || err.contains("duration"),
            "{text}: {err}"
        );
    }
    assert_eq!(parse_duration("36500d"), Ok(MAX_DURATION));
    for (var, value) in [
        ("TOKEND_KEYS__REFRESH_EVERY", "18446744073709551615"),
        ("TOKEND_KEYS__ROTATE_EVERY", "200000d"),
        ("TOKEND_TOKENS__MAX_TTL", "9223372036854775807"),
        ("TOKEND_TOKENS__LEEWAY", "1000000000000s"),
    ] {
        let env = [(var.to_owned(), value.to_owned())].into_iter().collect();
        let err = Settings::load_with_env(None, Some(env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("100 years"), "{var}: {err}");
    }
}

#[test]
fn short_publish_ahead_is_refused_naming_the_setting() {
    let mut s = Settings::default();
    s.keys.publish_ahead = Duration::from_secs(11);
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("keys.publish_ahead"), "{err}");
}

#[test]
fn rotate_every_must_exceed_publish_ahead() {
    let mut s = Settings::default();
    s.keys.rotate_every = Duration::from_secs(3600);
    let err = s.validate().unwrap_err().to_string();
    assert!(err.contains("keys.rotate_every"), "{err}");
}

#[test]
fn issuer_with_trailing_slash_is_refused() {
    let s = Settings {
        issuer: Some("https://auth.example.com/".into()),
        ..Settings::default()
    };
    assert!(s.validate().unwrap_err().to_string().contains("issuer"));
}

#[test]
fn every_documented_variable_is_read() {
    let values = [
        ("TOKEND_LISTEN", "127.0.0.1:9999"),
        ("TOKEND_ISSUER", "https://a.example"),
        ("TOKEND_DATABASE_URL", "postgres://x@y/z"),
        ("TOKEND_MASTER_KEY_FILE", "/k"),
        ("TOKEND_MASTER_KEY", "AAAA"),
        ("TOKEND_TOKENS__TTL", "2m"),
        ("TOKEND_TOKENS__MAX_TTL", "3m"),
        ("TOKEND_TOKENS__LEEWAY", "4s"),
        ("TOKEND_TOKENS__DEFAULT_AUDIENCE", "aud"),
        ("TOKEND_TOKENS__DEFAULT_QUOTA", "1000/h"),
        ("TOKEND_KEYS__ALGORITHM", "es384"),
        ("TOKEND_KEYS__ROTATE_EVERY", "2d"),
        ("TOKEND_KEYS__PUBLISH_AHEAD", "2h"),
        ("TOKEND_KEYS__JWKS_MAX_AGE", "7m"),
        ("TOKEND_KEYS__REFRESH_EVERY", "3s"),
        ("TOKEND_ADMIN__SCOPE", "ops"),
        ("TOKEND_ADMIN__CONSOLE", "false"),
        ("TOKEND_LOG__FORMAT", "json"),
        ("TOKEND_HTTP__TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1"),
        ("TOKEND_TLS__CERT_FILE", "/c.pem"),
        ("TOKEND_TLS__KEY_FILE", "/k.pem"),
        ("TOKEND_TLS__CLIENT_CA_FILE", "/ca.pem"),
        ("TOKEND_TLS__CLIENT_CERT_HEADER", "X-Forwarded-Client-Cert"),
        ("TOKEND_FEDERATION__FETCH_TIMEOUT", "7s"),
    ];
    assert_eq!(values.len(), Settings::ENV_VARS.len());
    let env = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let s = Settings::load_with_env(None, Some(env)).unwrap();
    let d = Settings::default();
    assert_ne!(s.listen, d.listen);
    assert_eq!(s.issuer.as_deref(), Some("https://a.example"));
    assert_ne!(s.database_url, d.database_url);
    assert_ne!(s.master_key_file, d.master_key_file);
    assert!(s.master_key.is_some());
    assert_eq!(s.tokens.ttl.as_secs(), 120);
    assert_eq!(s.tokens.max_ttl.as_secs(), 180);
    assert_eq!(s.tokens.leeway.as_secs(), 4);
    assert_eq!(s.tokens.default_audience.as_deref(), Some("aud"));
    assert_eq!(s.keys.algorithm, Algorithm::ES384);
    assert_eq!(s.keys.rotate_every.as_secs(), 2 * 86400);
    assert_eq!(s.keys.publish_ahead.as_secs(), 7200);
    assert_eq!(s.keys.jwks_max_age.as_secs(), 420);
    assert_eq!(s.keys.refresh_every.as_secs(), 3);
    assert_eq!(s.admin.scope, "ops");
    assert!(!s.admin.console && d.admin.console);
    assert_eq!(s.tokens.default_quota.as_deref(), Some("1000/h"));
    assert_eq!(s.federation.fetch_timeout.as_secs(), 7);
    assert_eq!(s.log.format, LogFormat::Json);
    assert!(s.http.trusted_proxies.contains("10.1.2.3".parse().unwrap()));
    assert!(
        s.http
            .trusted_proxies
            .contains("192.0.2.1".parse().unwrap())
    );
    assert!(
        !s.http
            .trusted_proxies
            .contains("192.0.2.2".parse().unwrap())
    );
    assert!(s.tls.enabled());
    assert_eq!(
        s.tls.client_ca_file.as_deref(),
        Some(std::path::Path::new("/ca.pem"))
    );
    assert_eq!(
        s.tls.client_cert_header,
        Some(tokend_verify::mtls::CertHeader::EnvoyXfcc)
    );
}

#[test]
fn an_unknown_client_cert_header_is_refused_naming_both_formats() {
    let env = [(
        "TOKEND_TLS__CLIENT_CERT_HEADER".to_string(),
        "x-client-cert".to_string(),
    )]
    .into_iter()
    .collect();
    let err = Settings::load_with_env(None, Some(env))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("x-forwarded-client-cert") && err.contains("x-ssl-client-cert"),
        "{err}"
    );
}

#[test]
fn a_bad_trusted_proxy_is_refused_naming_it() {
    let err = TrustedProxies::parse("10.0.0.0/8, nope").unwrap_err();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn unknown_toml_keys_are_refused_and_unknown_variables_warned() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        ("[keyz]\nrotate_every = \"7d\"\n", "keyz"),
        ("[tokens]\nmaxttl = \"1h\"\n", "tokens.maxttl"),
        ("isuer = \"https://a.example\"\n", "did you mean `issuer`"),
    ] {
        let file = dir.path().join("t.toml");
        std::fs::write(&file, text).unwrap();
        let err = Settings::load_with_env(Some(&file), Some(Default::default()))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
    let file = dir.path().join("ok.toml");
    std::fs::write(
        &file,
        "issuer = \"https://a.example\"\n[keys]\nalgorithm = \"ES256\"\n",
    )
    .unwrap();
    let env = [
        ("TOKEND_TOKENS__MAXTTL".to_owned(), "1h".to_owned()),
        ("TOKEND_TEST_DATABASE_URL".to_owned(), "x".to_owned()),
    ]
    .into_iter()
    .collect();
    let s = Settings::load_with_env(Some(&file), Some(env)).unwrap();
    assert_eq!(s.unknown_env, vec!["TOKEND_TOKENS__MAXTTL".to_owned()]);
    assert!(
        s.warnings()
            .iter()
            .any(|w| w.contains("TOKEND_TOKENS__MAXTTL"))
    );
}

#[test]
fn the_database_password_never_shows_in_debug() {
    let s = Settings {
        database_url: DatabaseUrl::from("postgres://tokend:hunter2@db/tokend"),
        ..Settings::default()
    };
    let debug = format!("{s:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("postgres://tokend:***@db/tokend"), "{debug}");
}

#[test]
fn max_ttl_below_ttl_is_refused() {
    let mut s = Settings::default();
    s.tokens.max_ttl = Duration::from_secs(60);
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("tokens.max_ttl")
    );
}

/// The README's configuration table and the settings tokend knows are the
/// same list (a setting missing from the list is refused in a TOML file and
/// reported as unknown in the environment, as `tokens.default_quota` was).
#[test]
fn the_readme_table_lists_exactly_the_known_settings() {
    let readme = include_str!("../../README.md");
    let mut documented: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split("` | `").nth(1))
        .filter_map(|l| l.split('`').next())
        .filter(|v| v.starts_with("TOKEND_"))
        .collect();
    documented.sort();
    let mut known = Settings::ENV_VARS.to_vec();
    known.sort();
    assert_eq!(documented, known);
}
