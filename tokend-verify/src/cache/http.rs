//! The cache's HTTP details: bounded bodies, same-origin redirects only,
//! the RFC 8414 metadata URL, and errors described without secrets.

use super::*;

/// reqwest's error with its causes (a refused redirect, a timeout), never a
/// body.
pub(super) fn describe_error(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// The RFC 8414 §3.1 metadata URL: the well-known path goes between the
/// host and the issuer's own path (`https://a/t1` →
/// `https://a/.well-known/oauth-authorization-server/t1`).
pub(super) fn rfc8414_metadata_url(issuer: &reqwest::Url) -> String {
    let path = issuer.path().trim_end_matches('/');
    let mut url = issuer.clone();
    url.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    url.set_query(None);
    url.to_string()
}

/// Redirects are followed (up to 5) only within the origin they started on.
pub(super) fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same {
            attempt.error("redirect to another origin refused")
        } else if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

/// The body, refusing more than [`MAX_BODY_BYTES`] without reading them.
pub(super) async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("the body is larger than {} KiB", MAX_BODY_BYTES / 1024);
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
