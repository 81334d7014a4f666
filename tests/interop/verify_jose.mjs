// Verifies a tokend access token offline, as a Node resource server would:
// jose's createRemoteJWKSet + jwtVerify with issuer, audience, algorithm and
// typ: "at+jwt" (RFC 9068 §4).
//
// usage: node verify_jose.mjs JWKS_URL ISSUER AUDIENCE ALG TOKEN
// Prints the claims as JSON and exits 0, or prints the error and exits 1.
import { createRemoteJWKSet, jwtVerify } from "jose";

const [jwksUrl, issuer, audience, alg, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));

async function verify(t, iss, aud) {
  const { payload, protectedHeader } = await jwtVerify(t, jwks, {
    issuer: iss,
    audience: aud,
    algorithms: [alg],
    typ: "at+jwt",
    requiredClaims: ["exp", "iat", "nbf", "sub", "jti", "client_id", "scope"],
  });
  return { payload, protectedHeader };
}

async function refuses(t, iss, aud) {
  try {
    await verify(t, iss, aud);
    return false;
  } catch {
    return true;
  }
}

try {
  const { payload, protectedHeader } = await verify(token, issuer, audience);
  const flip = token.at(-6) === "A" ? "B" : "A";
  const tampered = token.slice(0, -6) + flip + token.slice(-5);
  const refused = {
    tampered: await refuses(tampered, issuer, audience),
    wrong_audience: await refuses(token, issuer, "https://other.example"),
    wrong_issuer: await refuses(token, "https://evil.example", audience),
  };
  console.log(JSON.stringify({ claims: payload, header: protectedHeader, refused }));
} catch (e) {
  console.log(JSON.stringify({ error: `${e.code ?? e.name}: ${e.message}` }));
  process.exit(1);
}
