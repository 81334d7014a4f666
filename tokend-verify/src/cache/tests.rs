use super::*;

#[test]
fn discovery_urls() {
    let b = JwksCache::openid("https://token.actions.githubusercontent.com");
    let Source::Discovery { metadata_urls, .. } = b.source else {
        panic!()
    };
    assert_eq!(
        metadata_urls,
        [
            "https://token.actions.githubusercontent.com/.well-known/openid-configuration",
            "https://token.actions.githubusercontent.com/.well-known/oauth-authorization-server",
        ]
    );
    let b = JwksCache::rfc8414("https://a.example/t1");
    let Source::Discovery { metadata_urls, .. } = b.source else {
        panic!()
    };
    assert_eq!(
        metadata_urls,
        ["https://a.example/.well-known/oauth-authorization-server/t1"]
    );
}

#[test]
fn only_http_urls_build() {
    assert!(JwksCache::jwks_uri("file:///etc/passwd").build().is_err());
    assert!(JwksCache::openid("spiffe://td").build().is_err());
    assert!(
        JwksCache::jwks_uri("https://b.example/keys")
            .build()
            .is_ok()
    );
}
