//! DPoP on the token endpoint (RFC 9449, SPEC §9): the proof checked before
//! the client, its `jti` spent once the token is granted.

use super::TokenIssuer;
use crate::oauth::OAuthError;

impl TokenIssuer {
    /// RFC 9449 §4.3: a proof for this endpoint, fresh, signed by its key.
    pub(super) fn check_proof(
        &self,
        header: &[u8],
        url: Option<&str>,
        now: i64,
    ) -> Result<tokend_verify::dpop::DpopProof, OAuthError> {
        let proof = std::str::from_utf8(header)
            .map_err(|_| OAuthError::invalid_dpop_proof("the DPoP header is not ASCII"))?;
        let mut urls = vec![format!("{}/token", self.issuer)];
        urls.extend(url.map(str::to_owned));
        tokend_verify::dpop::verify_proof(
            proof.trim(),
            &tokend_verify::dpop::ProofRequest {
                method: "POST",
                urls: &urls,
                now,
                leeway: self.auth.leeway,
                access_token: None,
            },
        )
        .map_err(|e| OAuthError::invalid_dpop_proof(e.to_string()))
    }

    /// A proof's `jti` once, on every replica (the database decides), kept
    /// as long as its `iat` could still be accepted.
    pub(super) async fn spend_proof(
        &self,
        proof: &tokend_verify::dpop::DpopProof,
    ) -> Result<(), OAuthError> {
        let fresh = self
            .auth
            .replays
            .first_use(
                &format!("dpop:{}\n{}", proof.jkt, proof.jti),
                proof.iat + 2 * self.auth.leeway + 1,
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "recording a DPoP proof's use failed");
                OAuthError::unavailable("cannot record the DPoP proof; retry")
            })?;
        if fresh {
            Ok(())
        } else {
            Err(OAuthError::invalid_dpop_proof(
                "the DPoP proof was already used (jti replay)",
            ))
        }
    }
}
