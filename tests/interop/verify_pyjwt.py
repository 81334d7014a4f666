"""Verifies a tokend access token offline, as a Python resource server would:
PyJWT's PyJWKClient fetches the JWKS, then jwt.decode checks signature,
issuer, audience and expiry; RFC 9068 asks us to check typ as well.

usage: verify_pyjwt.py JWKS_URL ISSUER AUDIENCE ALG TOKEN
Prints the claims as JSON and exits 0, or prints the error and exits 1.
"""

import json
import sys

import jwt


def verify(jwks_url, issuer, audience, alg, token):
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        raise jwt.InvalidTokenError(f"typ is {header.get('typ')!r}, not at+jwt")
    signing_key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=[alg],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )


def main():
    jwks_url, issuer, audience, alg, token = sys.argv[1:6]
    claims = verify(jwks_url, issuer, audience, alg, token)
    # A verifier that accepts anything proves nothing: it must refuse these.
    refusals = {}
    for name, args in {
        "tampered": (jwks_url, issuer, audience, alg, token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]),
        "wrong_audience": (jwks_url, issuer, "https://other.example", alg, token),
        "wrong_issuer": (jwks_url, "https://evil.example", audience, alg, token),
    }.items():
        try:
            verify(*args)
            refusals[name] = False
        except (jwt.InvalidTokenError, jwt.PyJWKClientError):
            refusals[name] = True
    print(json.dumps({"claims": claims, "refused": refusals}))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, do not trace back
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
