// openid-client 6 with its DPoP support (RFC 9449) against tokend and a
// resource server built on tokend-verify: a DPoP-bound token from the
// client credentials grant, then the protected resource with a fresh proof
// per request; the same token sent as a bearer token must be refused.
//
// usage: node openid_client_dpop.mjs ISSUER CLIENT_ID SECRET RESOURCE_URL
// Prints a JSON report and exits 0, or prints the error and exits 1.
import * as client from 'openid-client';

const [issuer, clientId, secret, resource] = process.argv.slice(2);
const options = issuer.startsWith('http://') ? { execute: [client.allowInsecureRequests] } : {};

try {
  const config = await client.discovery(new URL(issuer), clientId, secret, undefined, options);
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(config, keyPair);
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read' }, { DPoP });

  const calls = [];
  for (let i = 0; i < 2; i++) {
    const response = await client.fetchProtectedResource(
      config, tokens.access_token, new URL(resource), 'GET', undefined, undefined, { DPoP });
    calls.push({ status: response.status, body: await response.json() });
  }
  const asBearer = await fetch(resource, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  console.log(JSON.stringify({
    token_type: tokens.token_type,
    scope: tokens.scope,
    calls,
    bearer_status: asBearer.status,
    bearer_challenge: asBearer.headers.get('www-authenticate'),
  }));
} catch (e) {
  console.log(JSON.stringify({ error: `${e.name}: ${e.message}`, code: e.code, cause: String(e.cause ?? '') }));
  process.exit(1);
}
