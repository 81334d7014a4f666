"""Workload identity issuers for tokend's federation tests, on one loopback
port: each signs with PyJWT the claims its platform really puts in a token.

  /k8s      a Kubernetes API server's service-account issuer: OIDC discovery
            and JWKS (RS256, `use: sig`); tokens as a projected volume gets them
  /gh       a GitHub Actions-shaped OIDC issuer (RS256; a GitHub Enterprise
            Server issuer has a path like this)
  /spiffe   a SPIFFE bundle endpoint (keys without `alg`, `use: jwt-svid`,
            `spiffe_refresh_hint`) and JWT-SVIDs signed by its EC key
  /slow     discovery that answers after 30 s
  /html     discovery that answers an HTML page
  /redirect discovery that redirects to another host (127.0.0.2)
  /huge     discovery whose JWKS is 2 MiB

POST /mint/<name> with a JSON object of parameters returns a token. Prints
the port on stdout, serves until killed. Counts requests per address and
path (GET /count/<path> on that address) so tests can see fetches.
"""

import json
import sys
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

RSA_K8S = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_GH = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_SPIFFE = ec.generate_private_key(ec.SECP256R1())
RSA_SPIFFE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
COUNTS = Counter()


def jwk(private_key, kid, **extra):
    public = jwt.algorithms.RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    key = json.loads(public.to_jwk(private_key.public_key()))
    key["kid"] = kid
    key.update(extra)
    return key


def base(handler):
    host = handler.headers.get("Host")
    return f"http://{host}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle(self):
        # tokend gave up on a slow answer and closed the connection.
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send(self, status, body, content_type="application/json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def discovery(self, issuer, jwks_path):
        self.send(200, {
            "issuer": issuer,
            "jwks_uri": f"{base(self)}{jwks_path}",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })

    def do_GET(self):
        path = self.path.split("?")[0]
        host = self.server.server_address[0]
        COUNTS[(host, path)] += 1
        b = base(self)
        if path.startswith("/count/"):
            return self.send(200, {"count": COUNTS[(host, "/" + path[len("/count/"):])]})
        if path == "/k8s/.well-known/openid-configuration":
            return self.discovery(f"{b}/k8s", "/k8s/openid/v1/jwks")
        if path == "/k8s/openid/v1/jwks":
            return self.send(200, {"keys": [jwk(RSA_K8S, "k8s-1", alg="RS256", use="sig")]},
                             content_type="application/jwk-set+json")
        if path == "/gh/.well-known/openid-configuration":
            return self.discovery(f"{b}/gh", "/gh/.well-known/jwks")
        if path == "/gh/.well-known/jwks":
            return self.send(200, {"keys": [jwk(RSA_GH, "gh-1", alg="RS256", use="sig")]},
                             headers={"Cache-Control": "public, max-age=600"})
        if path == "/spiffe/bundle":
            return self.send(200, {
                "keys": [
                    jwk(EC_SPIFFE, "spiffe-ec", use="jwt-svid"),
                    jwk(RSA_SPIFFE, "spiffe-rsa", use="jwt-svid"),
                ],
                "spiffe_refresh_hint": 300,
                "spiffe_sequence": 1,
            })
        if path == "/slow/.well-known/openid-configuration":
            time.sleep(30)
            return self.discovery(f"{b}/slow", "/k8s/openid/v1/jwks")
        if path == "/html/.well-known/openid-configuration":
            return self.send(200, b"<html><body><h1>Welcome to nginx!</h1></body></html>", "text/html")
        if path == "/redirect/.well-known/openid-configuration":
            port = self.server.server_address[1]
            return self.send(302, b"", "text/plain",
                             {"Location": f"http://127.0.0.2:{port}/k8s/.well-known/openid-configuration"})
        if path == "/huge/.well-known/openid-configuration":
            return self.discovery(f"{b}/huge", "/huge/jwks")
        if path == "/huge/jwks":
            key = jwk(RSA_K8S, "k8s-1", alg="RS256", use="sig")
            keys = [dict(key, kid=f"pad-{i}") for i in range(4000)]
            return self.send(200, {"keys": keys})
        self.send(404, {"error": "not_found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        params = json.loads(self.rfile.read(length) or b"{}")
        b = base(self)
        now = int(time.time())
        name = self.path[len("/mint/"):]
        if name == "k8s":
            ns, sa = params["namespace"], params["serviceaccount"]
            claims = {
                "aud": [params["aud"]],
                "exp": now + params.get("lifetime", 3600),
                "iat": now,
                "nbf": now,
                "iss": f"{b}/k8s",
                "jti": str(uuid.uuid4()),
                "kubernetes.io": {
                    "namespace": ns,
                    "node": {"name": "node-1", "uid": str(uuid.uuid4())},
                    "pod": {"name": f"{sa}-5d8f7c9b4-x2x7q", "uid": str(uuid.uuid4())},
                    "serviceaccount": {"name": sa, "uid": str(uuid.uuid4())},
                    "warnafter": now + 3000,
                },
                "sub": f"system:serviceaccount:{ns}:{sa}",
            }
            token = jwt.encode(claims, RSA_K8S, algorithm="RS256", headers={"kid": "k8s-1"})
        elif name == "gh":
            repo, owner_id = params["repository"], params["repository_owner_id"]
            ref = params.get("ref", "refs/heads/main")
            claims = {
                "jti": str(uuid.uuid4()),
                "sub": f"repo:{repo}:ref:{ref}",
                "aud": params["aud"],
                "ref": ref,
                "sha": "a2b4c6d8e0f1a2b4c6d8e0f1a2b4c6d8e0f1a2b4",
                "repository": repo,
                "repository_owner": repo.split("/")[0],
                "repository_owner_id": owner_id,
                "repository_visibility": "private",
                "repository_id": params.get("repository_id", "690123456"),
                "actor_id": "12345",
                "actor": "octocat",
                "workflow": "deploy",
                "head_ref": "",
                "base_ref": "",
                "event_name": "push",
                "ref_protected": "true",
                "ref_type": "branch",
                "workflow_ref": f"{repo}/.github/workflows/deploy.yml@{ref}",
                "workflow_sha": "a2b4c6d8e0f1a2b4c6d8e0f1a2b4c6d8e0f1a2b4",
                "job_workflow_ref": f"{repo}/.github/workflows/deploy.yml@{ref}",
                "job_workflow_sha": "a2b4c6d8e0f1a2b4c6d8e0f1a2b4c6d8e0f1a2b4",
                "runner_environment": "github-hosted",
                "run_id": "7777777777",
                "run_number": "42",
                "run_attempt": "1",
                "iss": f"{b}/gh",
                "nbf": now - 5,
                "exp": now + 300,
                "iat": now - 5,
            }
            token = jwt.encode(claims, RSA_GH, algorithm="RS256", headers={"kid": "gh-1", "x5t": "gh-1"})
        elif name in ("spiffe", "spiffe-rsa"):
            claims = {"sub": params["spiffe_id"], "aud": [params["aud"]], "exp": now + 300, "iat": now}
            if name == "spiffe":
                token = jwt.encode(claims, EC_SPIFFE, algorithm="ES256", headers={"kid": "spiffe-ec", "typ": "JWT"})
            else:
                token = jwt.encode(claims, RSA_SPIFFE, algorithm="RS256", headers={"kid": "spiffe-rsa", "typ": "JWT"})
        else:
            return self.send(404, {"error": "no such issuer"})
        self.send(200, {"token": token})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    # The same issuers on 127.0.0.2: another origin, for the redirect.
    other = ThreadingHTTPServer(("127.0.0.2", port), Handler)
    other.daemon_threads = True
    import threading
    threading.Thread(target=other.serve_forever, daemon=True).start()
    print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
