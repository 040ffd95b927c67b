// The local stack's OIDC issuer: oauth2-mock-server (discovery, JWKS,
// token, authorize), started by `scripts/local-stack up`, standing in for
// Cognito as moto stands in for SNS. Its access tokens are shaped like
// Cognito's, which is what the HTTP API's JWT authorizer sees in AWS:
//   - `client_id` names the app client (Cognito access tokens carry no
//     `aud`; API Gateway then checks `client_id` against the audiences);
//   - client credentials: `sub` is the client, `scope` the scopes asked for;
//   - password grant (a customer signing in): `sub` is the username.
// For tests of the authorizer, a token request may also carry
// `expires_in` (seconds, may be negative: an already expired token) and,
// with any grant, `aud` (the audience an authorizer that lists the client
// would accept).
//
// Usage: node server.mjs [--port 8090] [--host 127.0.0.1]
import { OAuth2Server } from 'oauth2-mock-server';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8090' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

server.service.on('beforeTokenSigning', (token, req) => {
  const body = req.body ?? {};
  const clientId = body.client_id ?? basicAuthUser(req.headers.authorization);
  if (clientId !== undefined) token.payload.client_id = clientId;
  token.payload.token_use = 'access';
  if (body.grant_type === 'client_credentials' && clientId !== undefined) token.payload.sub = clientId;
  if (body.expires_in !== undefined) token.payload.exp = token.payload.iat + Number(body.expires_in);
  if (body.aud !== undefined) token.payload.aud = body.aud;
});

function basicAuthUser(header) {
  if (typeof header !== 'string' || !header.startsWith('Basic ')) return undefined;
  return Buffer.from(header.slice(6), 'base64').toString().split(':')[0];
}

await server.start(Number(values.port), values.host);
// Name the issuer by the address it listens on, as tokens' `iss` must match.
server.issuer.url = `http://${values.host}:${values.port}`;
console.log(`oidc-server: issuer ${server.issuer.url}`);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await server.stop();
    process.exit(0);
  });
}
