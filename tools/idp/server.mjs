// A real OpenID provider for Only1MCP's security tests: panva's certified oidc-provider, set up as
// the authorization server of an MCP resource (client credentials, RFC 8707 resource indicators,
// RS256 JWT access tokens, RFC 7662 introspection, RFC 7009 revocation).
//
//   node server.mjs --resource http://127.0.0.1:8765/mcp [--keys keys.json]
//                   [--clients clients.json] [--port 0] [--host 127.0.0.1] [--signing-kid k1]
//
// --keys      a private JWKS ({"keys": [...]}) with one or more RSA signing keys; the first signs
//             (or the one named by --signing-kid). Keys after the signing one are not published in
//             /jwks until a rotation reaches them, so a resource server's cached key set really
//             meets an unknown kid after a rotation. Default: two fresh RSA-2048 keys, k1 and k2,
//             kept in memory only.
// --resource  a resource indicator tokens may be issued for (repeatable); `aud` is the resource.
//             A value ending in `*` admits every resource starting with what precedes it
//             (`http://127.0.0.1:*`: any loopback resource, for tests that start many).
// --clients   a JSON list of clients (see DEFAULT_CLIENTS for the fields); default DEFAULT_CLIENTS.
//
// Prints one line `READY {"issuer": ..., "port": ...}` on stdout when it serves.
//
// Test control endpoints (the provider listens on loopback only):
//   POST /_control/rotate  the next key signs from now on and is published in /jwks
//   GET  /_control/state   {"signing_kid": ..., "published": [...], "jwks_fetches": <count>}
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

// Each client: its secret, the scopes it may ask for, the claims its tokens carry (roles, amr,
// acr...), the token format ("jwt" is verified locally, "opaque" only by introspection) and the
// access token lifetime in seconds.
const DEFAULT_CLIENTS = [
  {
    client_id: 'alice', client_secret: 'alice-secret', scope: 'tools.read git.write',
    claims: { roles: ['dev'], amr: ['pwd', 'mfa'], acr: 'urn:only1mcp:mfa' },
  },
  {
    client_id: 'bob', client_secret: 'bob-secret', scope: 'tools.read',
    claims: { roles: ['viewer'], amr: ['pwd'] },
  },
  {
    client_id: 'alice-opaque', client_secret: 'alice-opaque-secret', scope: 'tools.read git.write',
    claims: { roles: ['dev'] }, format: 'opaque',
  },
  // The resource server's own client, used to call the introspection endpoint.
  { client_id: 'only1mcp', client_secret: 'only1mcp-secret', scope: '' },
];

function options() {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      keys: { type: 'string' },
      resource: { type: 'string', multiple: true, default: [] },
      clients: { type: 'string' },
      'signing-kid': { type: 'string' },
    },
  });
  if (values.resource.length === 0) {
    throw new Error('at least one --resource <URL> is required');
  }
  return values;
}

// Two RSA signing keys made for this run (nothing is written to disk).
function freshKeys() {
  const keys = ['k1', 'k2'].map((kid) => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
  });
  return { keys };
}

function readJSON(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

// Which key signs and which keys /jwks shows: a rotation moves the signing key to the next one and
// publishes it (a key once published stays so: tokens it signed still verify).
class Rotation {
  constructor(kids, signingKid) {
    this.kids = kids;
    this.index = signingKid ? kids.indexOf(signingKid) : 0;
    if (this.index < 0) {
      throw new Error(`--signing-kid ${signingKid} is not in --keys (${kids.join(', ')})`);
    }
    this.shown = new Set(kids.slice(0, this.index + 1));
    this.jwksFetches = 0;
  }

  get signingKid() { return this.kids[this.index]; }

  get published() { return this.kids.filter((kid) => this.shown.has(kid)); }

  rotate() {
    this.index = (this.index + 1) % this.kids.length;
    this.shown.add(this.signingKid);
  }

  state() {
    return { signing_kid: this.signingKid, published: this.published, jwks_fetches: this.jwksFetches };
  }
}

function admits(known, resource) {
  return known.endsWith('*') ? resource.startsWith(known.slice(0, -1)) : known === resource;
}

function configuration(keys, clients, resources, rotation) {
  const byId = new Map(clients.map((client) => [client.client_id, client]));
  const scopes = [...new Set(clients.flatMap((client) => (client.scope || '').split(' ')).filter(Boolean))];
  return {
    jwks: keys,
    scopes,
    clients: clients.map((client) => ({
      client_id: client.client_id,
      client_secret: client.client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: client.scope || undefined,
      token_endpoint_auth_method: client.token_endpoint_auth_method || 'client_secret_basic',
    })),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resource, client) {
          if (!resources.some((known) => admits(known, resource))) {
            throw new errors.InvalidTarget(`unknown resource ${resource}`);
          }
          const entry = byId.get(client.clientId) || {};
          return {
            scope: scopes.join(' '),
            audience: resource,
            accessTokenTTL: entry.ttl || 600,
            accessTokenFormat: entry.format || 'jwt',
            jwt: { sign: { alg: 'RS256', kid: rotation.signingKid } },
          };
        },
      },
    },
    extraTokenClaims(ctx, token) {
      // `sub` too, so an introspection answer names the principal as the JWT does.
      return { sub: token.clientId, ...byId.get(token.clientId)?.claims };
    },
    ttl: {
      ClientCredentials(ctx, token, client) {
        return token.resourceServer?.accessTokenTTL || byId.get(client.clientId)?.ttl || 600;
      },
    },
  };
}

// The test controls and the /jwks filter, in front of the provider's own routes.
function controls(rotation) {
  return async function control(ctx, next) {
    if (ctx.path === '/_control/rotate' && ctx.method === 'POST') {
      rotation.rotate();
      ctx.body = rotation.state();
      return;
    }
    if (ctx.path === '/_control/state' && ctx.method === 'GET') {
      ctx.body = rotation.state();
      return;
    }
    await next();
    if (ctx.path === '/jwks' && ctx.body?.keys) {
      rotation.jwksFetches += 1;
      const published = new Set(rotation.published);
      ctx.body = { keys: ctx.body.keys.filter((key) => published.has(key.kid)) };
    }
  };
}

async function main() {
  const opts = options();
  const keys = opts.keys ? readJSON(opts.keys) : freshKeys();
  const clients = opts.clients ? readJSON(opts.clients) : DEFAULT_CLIENTS;
  const rotation = new Rotation(keys.keys.map((key) => key.kid), opts['signing-kid']);

  // Listen first so the issuer can name the port the system chose.
  const server = createServer();
  await new Promise((resolve) => { server.listen(Number(opts.port), opts.host, resolve); });
  const { port } = server.address();
  const issuer = `http://${opts.host}:${port}`;

  const provider = new Provider(issuer, configuration(keys, clients, opts.resource, rotation));
  provider.use(controls(rotation));
  server.on('request', provider.callback());

  process.stdout.write(`READY ${JSON.stringify({ issuer, port })}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  process.stderr.write(`idp: ${error.message}\n`);
  process.exit(2);
});
