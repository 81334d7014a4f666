//! JWKS (RFC 7517), metadata (RFC 8414) and health endpoints.

use crate::helpers::*;

#[tokio::test]
async fn jwks_has_public_parts_only_and_supports_etag() {
    for alg in tokend::domain::Algorithm::ALL {
        let app = spawn_app_with(|s| s.keys.algorithm = alg).await;
        let resp = app
            .http
            .get(format!("{}/.well-known/jwks.json", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let cache_control = resp.headers()["cache-control"].to_str().unwrap().to_owned();
        assert!(
            cache_control.starts_with("public, max-age="),
            "{cache_control}"
        );
        let max_age: u64 = cache_control
            .trim_start_matches("public, max-age=")
            .parse()
            .unwrap();
        assert!(max_age <= 300);
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        let body: serde_json::Value = resp.json().await.unwrap();
        let keys = body["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        for key in keys {
            for member in ["kty", "kid", "use", "alg"] {
                assert!(key.get(member).is_some(), "{member}");
            }
            assert_eq!(key["use"], "sig");
            assert_eq!(key["alg"], alg.as_str());
            for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
                assert!(
                    key.get(private).is_none(),
                    "{alg}: private member {private}"
                );
            }
        }
        let resp = app
            .http
            .get(format!("{}/.well-known/jwks.json", app.address))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 304);
        assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
        assert!(
            resp.headers()["cache-control"]
                .to_str()
                .unwrap()
                .starts_with("public, max-age=")
        );
        let resp = app
            .http
            .get(format!("{}/.well-known/jwks.json", app.address))
            .header("If-None-Match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
}

#[tokio::test]
async fn metadata_at_both_paths_with_absolute_urls() {
    let app = spawn_app_with(|s| s.issuer = Some("https://auth.example.com".into())).await;
    app.simple_client("c", "read write").await;
    for path in ["oauth-authorization-server", "openid-configuration"] {
        let ok = eventually(std::time::Duration::from_secs(3), || async {
            let doc: serde_json::Value = app
                .http
                .get(format!("{}/.well-known/{path}", app.address))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            doc["scopes_supported"] == serde_json::json!(["read", "write"])
        })
        .await;
        assert!(ok, "scopes_supported follows the registered clients");
        let doc: serde_json::Value = app
            .http
            .get(format!("{}/.well-known/{path}", app.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], "https://auth.example.com");
        assert_eq!(doc["token_endpoint"], "https://auth.example.com/token");
        assert_eq!(
            doc["jwks_uri"],
            "https://auth.example.com/.well-known/jwks.json"
        );
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!([
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "urn:ietf:params:oauth:grant-type:token-exchange"
            ])
        );
        let methods = serde_json::json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ]);
        assert_eq!(doc["token_endpoint_auth_methods_supported"], methods);
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            methods
        );
        assert_eq!(doc["revocation_endpoint_auth_methods_supported"], methods);
        assert_eq!(
            doc["introspection_endpoint"],
            "https://auth.example.com/introspect"
        );
        assert_eq!(
            doc["revocation_endpoint"],
            "https://auth.example.com/revoke"
        );
        let algs = doc["token_endpoint_auth_signing_alg_values_supported"]
            .as_array()
            .unwrap();
        assert!(algs.contains(&"RS256".into()) && algs.contains(&"ES256".into()));
        assert!(
            !algs
                .iter()
                .any(|a| a.as_str().unwrap().starts_with("HS") || a == "none")
        );
        assert!(doc.get("response_types_supported").is_none());
        assert!(doc.get("authorization_endpoint").is_none());
    }
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    for path in ["healthz", "readyz"] {
        let resp = app
            .http
            .get(format!("{}/{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
    }
}
