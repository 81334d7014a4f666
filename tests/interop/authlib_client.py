"""A Python service using Authlib against tokend: the client credentials
grant with private_key_jwt (RFC 7523) and, as a resource server, token
introspection (RFC 7662) with client_secret_basic.

usage: authlib_client.py ISSUER KEY_CLIENT_ID PRIVATE_KEY_PEM RS_CLIENT_ID RS_SECRET
       authlib_client.py --basic ISSUER CLIENT_ID SECRET
The second form fetches a token with client_secret_basic, Authlib's default,
which sends the id and secret without form-encoding them first.
Prints a JSON report and exits 0, or prints the error and exits 1.
"""

import json
import sys

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib signs assertions valid for an hour by default; tokend accepts
    at most 5 minutes (SPEC §3), so sign them for 2 minutes."""

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=self.claims,
            header=self.headers,
            alg=self.alg,
            expires_in=120,
        )


def basic(issuer, client_id, secret):
    session = OAuth2Session(client_id, secret, scope="read")
    token = session.fetch_token(f"{issuer}/token", grant_type="client_credentials")
    print(json.dumps({"token": {k: token[k] for k in ("token_type", "expires_in", "scope")}}))


def main():
    if sys.argv[1] == "--basic":
        return basic(*sys.argv[2:5])
    issuer, key_client, pem_path, rs_id, rs_secret = sys.argv[1:6]
    token_endpoint = f"{issuer}/token"
    with open(pem_path) as f:
        private_key = f.read()

    session = OAuth2Session(key_client, private_key, scope="read",
                            token_endpoint_auth_method=ShortLivedPrivateKeyJWT(token_endpoint))
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")

    # Authlib's default assertion lifetime (one hour) is refused.
    default = OAuth2Session(key_client, private_key, scope="read",
                            token_endpoint_auth_method=PrivateKeyJWT(token_endpoint))
    try:
        default.fetch_token(token_endpoint, grant_type="client_credentials")
        default_refused = False
    except Exception as e:  # authlib raises OAuthError subclasses
        default_refused = "invalid_client" in str(e)

    rs = OAuth2Session(rs_id, rs_secret, token_endpoint_auth_method="client_secret_basic")
    active = rs.introspect_token(f"{issuer}/introspect", token=token["access_token"]).json()
    bogus = rs.introspect_token(f"{issuer}/introspect", token="not-a-token").json()
    print(json.dumps({
        "token": {k: token[k] for k in ("token_type", "expires_in", "scope")},
        "introspection": active,
        "bogus": bogus,
        "default_lifetime_refused": default_refused,
    }))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
