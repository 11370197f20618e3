// The interop test's identity provider: node-oidc-provider (OpenID Certified), over TLS on
// 127.0.0.1, on a port the OS picks. Prints one JSON line on stdout once it listens:
//   {"issuer": "https://127.0.0.1:PORT", "port": PORT}
// then serves until SIGTERM or SIGINT.
//
// Environment (set by run.sh): OIDC_TLS_CERT and OIDC_TLS_KEY (PEM files of the server certificate
// and its key), OIDC_DAEMON_SECRET (the confidential client's secret, never printed).
//
// Clients:
//   kinetic-daemon   confidential, client_credentials, secret sent in the body (client_secret_post:
//                    kinetic sends it so; a client registered with the provider's default,
//                    client_secret_basic, is refused with invalid_client)
//   kinetic-desktop  public native app: authorization code + PKCE + refresh, loopback redirect on
//                    any port (RFC 8252 7.3); access tokens live 30 s, so every later `kinetic token`
//                    has to refresh (which rotates the refresh token: the client is public)
//   kinetic-device   public native app: device code + refresh; access tokens live an hour
// Every access token is a JWT for the resource API_RESOURCE (resource indicators, RFC 8707), with
// the scope api:read; users sign in through the development interactions (any login and password).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

import Provider from 'oidc-provider';

export const API_RESOURCE = 'urn:kinetic:interop:api';

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`provider: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const server = createServer({
  cert: readFileSync(need('OIDC_TLS_CERT')),
  key: readFileSync(need('OIDC_TLS_KEY')),
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `https://127.0.0.1:${port}`;

// A fresh signing key per run (not the library's development keys).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'interop', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'kinetic-daemon',
      client_secret: need('OIDC_DAEMON_SECRET'),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      // The provider's default method: the secret in an HTTP Basic header (RFC 6749 2.3.1).
      client_id: 'kinetic-daemon-basic',
      client_secret: need('OIDC_DAEMON_SECRET'),
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'kinetic-desktop',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://localhost/callback', 'http://127.0.0.1/callback'],
    },
    {
      client_id: 'kinetic-device',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, name: id }),
  }),
  claims: { openid: ['sub'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'profile'],
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => API_RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource, client) => {
        if (resource !== API_RESOURCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: 'api:read',
          audience: API_RESOURCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: client?.clientId === 'kinetic-desktop' ? 30 : 3600,
        };
      },
    },
  },
  pkce: { required: () => true },
  ttl: {
    AuthorizationCode: 60,
    DeviceCode: 300,
    Grant: 3600,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
  },
});
provider.on('server_error', (_ctx, err) => console.error('provider: server_error', err));

server.on('request', provider.callback());
console.log(JSON.stringify({ issuer, port }));

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
