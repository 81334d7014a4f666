// openid-client 6 with its default settings against tokend: discovery, then
// the client credentials grant. With a client secret openid-client sends it
// in the body (client_secret_post); a client created with tokend's defaults
// must get its token, and a wrong secret must surface tokend's own error
// (no WWW-Authenticate challenge that would hide the body).
//
// usage: node openid_client.mjs ISSUER CLIENT_ID SECRET
// Prints a JSON report and exits 0, or prints the error and exits 1.
import * as client from 'openid-client';

const [issuer, clientId, secret] = process.argv.slice(2);
const options = issuer.startsWith('http://') ? { execute: [client.allowInsecureRequests] } : {};

try {
  const config = await client.discovery(new URL(issuer), clientId, secret, undefined, options);
  const tokens = await client.clientCredentialsGrant(config, { scope: 'read' });

  const wrong = await client.discovery(new URL(issuer), clientId, 'not-the-secret', undefined, options);
  let refusal = null;
  try {
    await client.clientCredentialsGrant(wrong, { scope: 'read' });
  } catch (e) {
    refusal = { name: e.name, code: e.code, error: e.error, error_description: e.error_description };
  }
  console.log(JSON.stringify({
    token_type: tokens.token_type,
    scope: tokens.scope,
    expires_in: tokens.expires_in,
    access_token: tokens.access_token.length > 0,
    refusal,
  }));
} catch (e) {
  console.log(JSON.stringify({ error: `${e.name}: ${e.message}`, code: e.code, cause: String(e.cause ?? '') }));
  process.exit(1);
}
