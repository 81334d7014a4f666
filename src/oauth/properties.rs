//! Property tests over everything that parses untrusted input: the form
//! body, the Basic header, scope strings and client assertions. Whatever the
//! bytes, no panic, and only the errors SPEC §3 names. (A long run of these
//! stands in for cargo-fuzz, which needs a nightly toolchain.)

use super::ErrorCode;
use super::assertion;
use super::credentials::{Credentials, parse_basic};
use super::form::Form;
use crate::domain::{Audience, ClientId, Scope};
use base64::Engine;
use proptest::prelude::*;

fn form_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"grant_type=client_credentials".to_vec()),
        Just(b"scope=a+b".to_vec()),
        Just(b"client_id=x".to_vec()),
        Just(b"client_secret=y".to_vec()),
        Just(b"client_assertion=a.b.c".to_vec()),
        Just(b"resource=https%3A%2F%2Fx".to_vec()),
        Just(b"%".to_vec()),
        Just(b"%zz".to_vec()),
        Just(b"%ff".to_vec()),
        Just(b"=".to_vec()),
        Just(b"&".to_vec()),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|parts| parts.join(&b'&'))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn form_parser_never_panics(body in form_bytes()) {
        if let Ok(form) = Form::parse(&body) {
            for name in ["grant_type", "scope", "client_id", "client_secret", "resource"] {
                let _ = form.single(name);
                let _ = form.all(name).count();
            }
            match Credentials::extract(None, &form, false) {
                Ok(_) => {}
                Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidRequest),
            }
        }
    }

    #[test]
    fn basic_header_parser_only_answers_invalid_request_or_client(raw in prop::collection::vec(any::<u8>(), 0..200), encoded in prop::collection::vec(any::<u8>(), 0..120)) {
        for header in [raw.clone(), [b"Basic ".as_slice(), &raw].concat(), format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(&encoded)).into_bytes()] {
            if let Err(e) = parse_basic(&header) {
                prop_assert!(matches!(e.code, ErrorCode::InvalidRequest | ErrorCode::InvalidClient), "{:?}", e.code);
            }
        }
    }

    #[test]
    fn scope_parsing_round_trips(s in "\\PC{0,64}") {
        if let Ok(scope) = Scope::parse(&s) {
            prop_assert_eq!(Scope::parse(&scope.to_string()).unwrap(), scope);
        }
        let _ = ClientId::parse(&s);
        let _ = Audience::parse(&s);
        let _ = Audience::parse_resource(&s);
    }

    #[test]
    fn client_assertions_from_random_input_are_refused(parts in prop::collection::vec("[A-Za-z0-9_\\-]{0,40}", 0..5), raw in "\\PC{0,200}") {
        let keys: jsonwebtoken::jwk::JwkSet = serde_json::from_value(serde_json::json!({
            "keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]
        })).unwrap();
        let audiences = vec!["https://issuer/token".to_owned()];
        for candidate in [parts.join("."), raw] {
            let _ = assertion::claimed_client(&candidate);
            prop_assert!(assertion::verify(&candidate, "c", &keys, &audiences, 0, 60).is_err());
        }
    }
}
