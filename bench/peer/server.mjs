// The peer of `make bench`: node oidc-provider 9 (the certified reference OP), configured like
// the IdP under test: one confidential client (client_credentials, authorization_code,
// refresh_token; client_secret_basic), one public client (PKCE S256), RS256 ID tokens, JWT
// access tokens (RS256, through resource indicators and a default resource), refresh tokens
// rotated on every use, and a minimal interaction page checking an argon2id password at the
// same cost as ours.
//
// Everything comes from one JSON file named by the first argument (written by bench/servers.py):
//   {"port", "issuer", "resource", "clients": [...], "user": {"login", "password", "sub"},
//    "argon2": {"memory_cost_kib", "time_cost", "parallelism"}, "access_token_ttl"}
// It listens on 127.0.0.1 only, keeps everything in memory and stops on SIGTERM/SIGINT.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';

import { hash, verify, Algorithm } from '@node-rs/argon2';
import Provider from 'oidc-provider';

const settings = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const argon2Options = {
  algorithm: Algorithm.Argon2id,
  memoryCost: settings.argon2.memory_cost_kib,
  timeCost: settings.argon2.time_cost,
  parallelism: settings.argon2.parallelism,
};

const user = settings.user;
const passwordHash = await hash(user.password, argon2Options);
// Like ours: an unknown login costs one verification of a dummy hash.
const dummyHash = await hash(randomBytes(16).toString('hex'), argon2Options);

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', use: 'sig', alg: 'RS256' };

const ttl = settings.access_token_ttl;
const provider = new Provider(settings.issuer, {
  clients: settings.clients,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'api'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  findAccount: async (_ctx, sub) => (sub === user.sub ? {
    accountId: sub,
    claims: async () => ({ sub, email: user.login, email_verified: true }),
  } : undefined),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => settings.resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: settings.resource,
        accessTokenTTL: ttl,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: ttl,
    ClientCredentials: ttl,
    IdToken: ttl,
    AuthorizationCode: 60,
    RefreshToken: 30 * 24 * 3600,
    Interaction: 1800,
    Session: 12 * 3600,
    Grant: 30 * 24 * 3600,
  },
  routes: { authorization: '/authorize', token: '/token', jwks: '/jwks', userinfo: '/userinfo' },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 65536) throw new Error('body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// GET /interaction/:uid shows the login form; POST /interaction/:uid/login checks the password
// and finishes the interaction with the login and a grant of the requested scopes (first-party
// clients are not asked for consent, as in ours).
async function interaction(req, res) {
  const url = new URL(req.url, settings.issuer);
  const parts = url.pathname.split('/').filter(Boolean);
  const details = await provider.interactionDetails(req, res);
  if (parts[1] !== details.uid) return page(res, 400, 'wrong interaction');
  if (req.method === 'GET' && parts.length === 2) {
    return page(res, 200, `<!doctype html><title>Sign in</title>
<form method="post" action="/interaction/${escape(details.uid)}/login">
<input name="login" autocomplete="username"><input name="password" type="password">
<button>Sign in</button></form>`);
  }
  if (req.method === 'POST' && parts[2] === 'login') {
    const form = await readForm(req);
    const known = form.get('login') === user.login;
    const ok = await verify(known ? passwordHash : dummyHash, form.get('password') || '');
    if (!known || !ok) return page(res, 401, 'Wrong login or password.');
    const { params } = details;
    const grant = new provider.Grant({ accountId: user.sub, clientId: params.client_id });
    grant.addOIDCScope(String(params.scope || 'openid'));
    grant.addResourceScope(settings.resource, 'api');
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, {
      login: { accountId: user.sub, amr: ['pwd'] },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  }
  return page(res, 404, 'not found');
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    return res.end('ok');
  }
  if (req.url.startsWith('/interaction/')) {
    return interaction(req, res).catch((err) => {
      if (!res.headersSent) page(res, 400, escape(err.message));
      else res.end();
    });
  }
  return callback(req, res);
});
server.keepAliveTimeout = 60000;
server.listen(settings.port, '127.0.0.1', () => {
  process.stdout.write(`peer listening on http://127.0.0.1:${settings.port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
