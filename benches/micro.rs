//! Micro-benchmarks of the token path without HTTP: signing with a parsed
//! key pair per algorithm, parsing a request, checking a secret, and a whole
//! token issuance (cache hit, secret, policy, claims, signature).
//!
//!   cargo bench --bench micro

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use tokend::admin::{NewClient, ScopesInput};
use tokend::app::Application;
use tokend::clock::SystemClock;
use tokend::config::Settings;
use tokend::domain::Algorithm;
use tokend::keys::{Signer, generate};
use tokend::oauth::{Credentials, Form, generate_secret, hash_secret, verify_secret};

const CLAIMS: &[u8] = br#"{"iss":"https://auth.example.com","sub":"orders","aud":"https://api.example.com","exp":1795615732,"iat":1795612132,"nbf":1795612132,"jti":"0gkN_SD2e4XvTNo5sxJDZw","client_id":"orders","scope":"read write"}"#;

fn signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let key = generate(alg).unwrap();
        let signer = Signer::from_pkcs8(alg, &key.kid, &key.pkcs8).unwrap();
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| signer.sign_jwt(black_box(CLAIMS)).unwrap())
        });
    }
    group.finish();
}

fn parsing_and_secrets(c: &mut Criterion) {
    let body =
        b"grant_type=client_credentials&scope=read+write&resource=https%3A%2F%2Fapi.example.com";
    let header = b"Basic b3JkZXJzOmRKdlVRS25lYXRUeXgxVGJiUEdIMTZrRzdHd2J6eHNkR1VRbk42MzFWNzQ=";
    c.bench_function("parse/form+basic", |b| {
        b.iter(|| {
            let form = Form::parse(black_box(body)).unwrap();
            Credentials::extract(Some(black_box(header)), &form, false).unwrap()
        })
    });
    let pepper =
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"pepper-for-the-benchmark");
    let secret = generate_secret();
    let stored = hash_secret(&pepper, &secret);
    c.bench_function("secret/verify", |b| {
        b.iter(|| verify_secret(&pepper, black_box(&secret), &stored))
    });
}

fn issuance(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            database_url: format!("sqlite://{}/{alg}.db", dir.path().display()).into(),
            master_key_file: dir.path().join(format!("{alg}.key")),
            ..Settings::default()
        };
        settings.keys.algorithm = alg;
        let (state, secret) = rt.block_on(async {
            let app = Application::build(settings, Arc::new(SystemClock))
                .await
                .unwrap();
            let state = app.state();
            let created = state
                .admin
                .create_client(NewClient {
                    name: "bench".into(),
                    client_id: Some("bench".into()),
                    scopes: ScopesInput::Text("read write".into()),
                    ..NewClient::default()
                })
                .await
                .unwrap();
            use secrecy::ExposeSecret;
            (
                state,
                created.client_secret.unwrap().expose_secret().to_owned(),
            )
        });
        let header = {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("bench:{secret}"))
            )
        };
        let tokens = &state.tokens;
        c.bench_function(&format!("issue/{alg}"), |b| {
            b.to_async(&rt).iter(|| async {
                tokens
                    .token(
                        &tokend::oauth::RequestContext {
                            content_type: Some(b"application/x-www-form-urlencoded"),
                            authorization: Some(header.as_bytes()),
                            ..Default::default()
                        },
                        b"grant_type=client_credentials&scope=read",
                    )
                    .await
                    .unwrap()
            })
        });
    }
}

criterion_group!(benches, signing, parsing_and_secrets, issuance);
criterion_main!(benches);
