// panva's `dpop` package (RFC 9449 proofs, WebCrypto) with plain fetch:
// a DPoP-bound token from tokend for each algorithm it offers, then a
// resource server built on tokend-verify with a fresh proof per request.
// The refusals a thief meets: a replayed proof, a proof for another URL, a
// proof by another key, and the token as a bearer token.
//
// usage: node dpop_package.mjs ISSUER CLIENT_ID SECRET RESOURCE_URL
// Prints a JSON report and exits 0, or prints the error and exits 1.
import { generateKeyPair, generateProof, calculateThumbprint } from 'dpop';

const [issuer, clientId, secret, resource] = process.argv.slice(2);
const tokenUrl = `${issuer}/token`;
const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');

async function getToken(keypair) {
  const proof = await generateProof(keypair, tokenUrl, 'POST');
  const r = await fetch(tokenUrl, {
    method: 'POST',
    headers: { authorization: basic, dpop: proof, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=read',
  });
  return { status: r.status, body: await r.json() };
}

async function call(token, proof, scheme = 'DPoP') {
  const headers = { authorization: `${scheme} ${token}` };
  if (proof) headers.dpop = proof;
  const r = await fetch(resource, { headers });
  return { status: r.status, challenge: r.headers.get('www-authenticate') };
}

try {
  const report = { algorithms: {} };
  // The package's algorithms that tokend offers too (it has no ES384, and
  // Node 20's WebCrypto no Ed25519).
  for (const alg of ['ES256', 'RS256', 'PS256']) {
    const keypair = await generateKeyPair(alg);
    const { status, body } = await getToken(keypair);
    const payload = body.access_token
      ? JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url'))
      : {};
    report.algorithms[alg] = {
      status,
      token_type: body.token_type,
      jkt_matches: payload.cnf?.jkt === await calculateThumbprint(keypair.publicKey),
    };
  }
  const keypair = await generateKeyPair('ES256');
  const thief = await generateKeyPair('ES256');
  const { body } = await getToken(keypair);
  const token = body.access_token;
  const proof = await generateProof(keypair, resource, 'GET', undefined, token);
  report.ok = await call(token, proof);
  report.replayed = await call(token, proof);
  report.other_url = await call(token, await generateProof(keypair, resource + '/other', 'GET', undefined, token));
  report.other_key = await call(token, await generateProof(thief, resource, 'GET', undefined, token));
  report.as_bearer = await call(token, undefined, 'Bearer');
  // A proof for the token endpoint by the same key, replayed there.
  const tokenProof = await generateProof(keypair, tokenUrl, 'POST');
  const post = () => fetch(tokenUrl, {
    method: 'POST',
    headers: { authorization: basic, dpop: tokenProof, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
  report.token_first = (await post()).status;
  const again = await post();
  report.token_replay = { status: again.status, body: await again.json() };
  console.log(JSON.stringify(report));
} catch (e) {
  console.log(JSON.stringify({ error: `${e.name}: ${e.message}` }));
  process.exit(1);
}
