// node-oidc-provider configured like tokend for the load benchmark: the
// client credentials grant, client_secret_basic, JWT access tokens (ES256 or
// RS256), in-memory adapter. WORKERS=2 forks a cluster.
//
// usage: PORT=… ALG=ES256 WORKERS=1 CLIENT_SECRET=… node oidc-provider.mjs
import cluster from "node:cluster";
import Provider from "oidc-provider";
import { generateKeyPair, exportJWK } from "jose";

const port = Number(process.env.PORT ?? 18200);
const alg = process.env.ALG ?? "ES256";
const workers = Number(process.env.WORKERS ?? 1);
const secret = process.env.CLIENT_SECRET ?? "bench-secret-bench-secret-bench-secret-00";

if (cluster.isPrimary && workers > 1) {
  // One key for every worker, so tokens verify against one JWKS.
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg, use: "sig", kid: "bench" };
  for (let i = 0; i < workers; i++) cluster.fork({ JWK: JSON.stringify(jwk) });
} else {
  let jwk;
  if (process.env.JWK) {
    jwk = JSON.parse(process.env.JWK);
  } else {
    const { privateKey } = await generateKeyPair(alg, { extractable: true });
    jwk = { ...(await exportJWK(privateKey)), alg, use: "sig", kid: "bench" };
  }
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: "bench",
      client_secret: secret,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_basic",
      id_token_signed_response_alg: alg,
      scope: "read",
    }],
    jwks: { keys: [jwk] },
    scopes: ["read"],
    // tokend's default lifetime; also silences the default-ttl notice.
    ttl: { ClientCredentials: 3600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => "https://api.example",
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "read",
          accessTokenFormat: "jwt",
          accessTokenTTL: 3600,
          jwt: { sign: { alg } },
        }),
      },
    },
  });
  provider.listen(port, "127.0.0.1");
}
