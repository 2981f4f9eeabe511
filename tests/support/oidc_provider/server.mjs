// A real OpenID Connect provider (npm `oidc-provider`) for the aggregator test suite.
//
// NOT FOR PRODUCTION: in-memory storage, throw-away keys, and a login page that
// lets the caller claim any identity.
//
// Usage:
//   node server.mjs [port] [config-json]
//
//   port         TCP port on 127.0.0.1 (else env OIDC_PORT, else 0 = any free port)
//   config-json  JSON (else env OIDC_CONFIG), either an array of clients or
//                {"clients": [...]}. Each client needs client_id and redirect_uris;
//                client_secret is needed unless token_endpoint_auth_method is "none".
//                Any other client metadata is passed through to oidc-provider.
//
// Once listening it prints exactly one line `READY <issuer>` on stdout, where
// issuer is `http://127.0.0.1:<port>` (the real port when 0 was asked for).
//
// Routes besides the provider's own (/.well-known/openid-configuration, /auth,
// /token, /me, /jwks, ...):
//   GET  /interaction/:uid         HTML form with fields sub, email, email_verified, name
//   POST /interaction/:uid/login   logs `sub` in with those claims and grants the
//                                  requested scopes/claims (no consent prompt)
//   POST /interaction/:uid/abort   ends the request with error=access_denied
//   POST /__test/reset             forgets all accounts submitted so far
//   GET  /__test/health            200 "ok"

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';

function fail(message) {
  process.stderr.write(`oidc test provider: ${message}\n`);
  process.exit(2);
}

function readConfig() {
  const raw = process.argv[3] ?? process.env.OIDC_CONFIG ?? '{"clients": []}';
  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    fail(`configuration is not valid JSON: ${err.message}`);
  }
  const clients = Array.isArray(parsed) ? parsed : parsed?.clients;
  if (!Array.isArray(clients)) {
    fail('configuration must be a list of clients or an object with a "clients" list');
  }
  return clients.map((client, index) => {
    if (!client || typeof client.client_id !== 'string' || !Array.isArray(client.redirect_uris)) {
      fail(`client #${index} needs a string client_id and a redirect_uris list`);
    }
    return {
      application_type: 'web',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: client.client_secret ? 'client_secret_basic' : 'none',
      id_token_signed_response_alg: 'RS256',
      ...client,
    };
  });
}

function readPort() {
  const raw = process.argv[2] ?? process.env.OIDC_PORT ?? '0';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`invalid port ${JSON.stringify(raw)}`);
  }
  return port;
}

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    ...privateKey.export({ format: 'jwk' }),
    kid: randomUUID(),
    alg: 'RS256',
    use: 'sig',
  };
}

// sub -> { email, email_verified, name }, as last submitted on the login form.
const accounts = new Map();

function buildProvider(issuer, clients) {
  return new Provider(issuer, {
    clients,
    clientDefaults: {
      application_type: 'web',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    jwks: { keys: [signingKey()] },
    // Plain http on loopback: oidc-provider only marks cookies `secure` when the
    // request itself is secure, so signed cookies work over http as they are.
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    responseTypes: ['code'],
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile'],
    claims: {
      acr: null,
      auth_time: null,
      iss: null,
      sid: null,
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Put the scope-requested claims (email, profile) in the ID token too, not
    // only in the userinfo response.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: {
      url: (ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    ttl: {
      AccessToken: 60 * 60,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      Interaction: 60 * 60,
      Session: 60 * 60,
      Grant: 60 * 60,
    },
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        async claims() {
          const stored = accounts.get(sub) ?? {};
          return { sub, ...stored };
        },
      };
    },
  });
}

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

function send(res, status, body, type = 'text/plain; charset=utf-8') {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function parseBool(value) {
  return ['true', '1', 'on', 'yes'].includes(String(value ?? '').trim().toLowerCase());
}

function loginPage(uid, details) {
  const { params, prompt } = details;
  const hint = params.login_hint ?? '';
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Test OpenID Provider - sign in</title></head>
<body>
<h1>Test OpenID Provider</h1>
<p>Client <code>${escapeHtml(params.client_id)}</code> asks for
<code>${escapeHtml(params.scope)}</code> (prompt: ${escapeHtml(prompt.name)}).</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login" id="login">
  <label>sub <input name="sub" required value="${escapeHtml(hint)}"></label><br>
  <label>email <input name="email" type="email" value="${escapeHtml(hint)}"></label><br>
  <label>email_verified <input name="email_verified" value="true"></label><br>
  <label>name <input name="name" value=""></label><br>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(uid)}/abort" id="abort">
  <button type="submit">Cancel</button>
</form>
</body>
</html>
`;
}

function requestedClaimNames(claimsParam) {
  if (!claimsParam) return [];
  try {
    const parsed = typeof claimsParam === 'string' ? JSON.parse(claimsParam) : claimsParam;
    return [...new Set([
      ...Object.keys(parsed?.id_token ?? {}),
      ...Object.keys(parsed?.userinfo ?? {}),
    ])];
  } catch {
    return [];
  }
}

async function finishLogin(provider, req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, 'interaction id does not match the interaction cookie\n');
    return;
  }
  const form = await readForm(req);
  const sub = (form.get('sub') ?? '').trim();
  if (!sub) {
    send(res, 400, 'sub is required\n');
    return;
  }
  const claims = {};
  if (form.has('email')) claims.email = form.get('email');
  if (form.has('email_verified')) claims.email_verified = parseBool(form.get('email_verified'));
  if (form.has('name')) claims.name = form.get('name');
  accounts.set(sub, claims);

  const { params } = details;
  const grant = new provider.Grant({ accountId: sub, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope ?? 'openid'));
  const extraClaims = [
    ...requestedClaimNames(params.claims),
    ...(details.prompt?.details?.missingOIDCClaims ?? []),
  ];
  if (extraClaims.length) grant.addOIDCClaims(extraClaims);
  const grantId = await grant.save();

  await provider.interactionFinished(req, res, {
    login: { accountId: sub, remember: false },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

async function abortLogin(provider, req, res) {
  await provider.interactionFinished(req, res, {
    error: 'access_denied',
    error_description: 'End-User aborted interaction',
  }, { mergeWithLastSubmission: false });
}

async function main() {
  const port = readPort();
  const clients = readConfig();

  const server = http.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, resolve);
  });
  const issuer = `http://${HOST}:${server.address().port}`;

  const provider = buildProvider(issuer, clients);
  provider.on('server_error', (ctx, err) => {
    process.stderr.write(`oidc test provider: server_error ${err?.stack ?? err}\n`);
  });
  const providerCallback = provider.callback();

  server.on('request', async (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    try {
      let match;
      if (req.method === 'GET' && pathname === '/__test/health') {
        send(res, 200, 'ok\n');
      } else if (req.method === 'POST' && pathname === '/__test/reset') {
        accounts.clear();
        send(res, 200, 'reset\n');
      } else if ((match = pathname.match(/^\/interaction\/([^/]+)$/)) && req.method === 'GET') {
        const details = await provider.interactionDetails(req, res);
        send(res, 200, loginPage(match[1], details), 'text/html; charset=utf-8');
      } else if ((match = pathname.match(/^\/interaction\/([^/]+)\/login$/)) && req.method === 'POST') {
        await finishLogin(provider, req, res, match[1]);
      } else if ((match = pathname.match(/^\/interaction\/([^/]+)\/abort$/)) && req.method === 'POST') {
        await abortLogin(provider, req, res);
      } else {
        providerCallback(req, res);
      }
    } catch (err) {
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      const status = err?.statusCode ?? 500;
      send(res, status, `${err?.name ?? 'Error'}: ${err?.error_description ?? err?.message ?? err}\n`);
    }
  });

  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => fail(err?.stack ?? String(err)));
