// A real OAuth2 / OpenID Connect authorization server for the tests: oidc-provider (OpenID Certified),
// configured for the client credentials grant with short-lived JWT access tokens for one resource server.
//
//   node server.mjs --config clients.json [--port 0] [--ttl 4]
//
// Prints "READY http://127.0.0.1:PORT" once it listens (127.0.0.1 only). The token endpoint is
// {issuer}/token, the keys are at {issuer}/jwks. Outside the OAuth2 protocol, for the tests only:
// - GET /test/stats: token requests seen, tokens issued, refusals, failures injected (to count fetches);
// - GET /test/tokens: every access token issued so far (the secrets audit looks for each one in what a run
//   leaves behind);
// - POST /test/fail?after=N&count=M&mode=MODE: token requests numbered N+1 to N+M fail, counted from the
//   server's start, never timed: mode `reset` drops the connection without an answer (a token endpoint that
//   is down or restarting), `503` answers an HTML 503 page (a load balancer with no healthy identity
//   server), `invalid_client` answers RFC 6749 section 5.2's 401 invalid_client (a client secret that was
//   rotated or revoked at the identity provider while the job ran).
//
// The config file holds {"clients": [...oidc-provider client metadata...], "resource": "https://...",
// "scopes": ["llm:invoke", ...], "client_ttls": {"client id": seconds}}; the Python helper
// tools/oidc_server.py writes it. Tokens live --ttl seconds unless client_ttls says otherwise.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    port: { type: 'string', default: '0' },
    ttl: { type: 'string', default: '4' },
  },
});
const config = JSON.parse(readFileSync(values.config, 'utf8'));
const ttl = Number(values.ttl);

// A fresh signing key per run: the resource server (the fault server) must fetch it from /jwks.
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: `test-${Date.now()}`, alg: 'RS256', use: 'sig' };

const resourceScopes = config.scopes.join(' ');
const stats = { token_requests: 0, tokens_issued: 0, token_errors: 0, failures_injected: 0 };
const issued = [];
const failing = { after: 0, count: 0, mode: 'reset' };
const FAILURE_MODES = ['reset', '503', 'invalid_client'];

// The answer a failing token request gets (see POST /test/fail); false when it goes to oidc-provider.
const injectFailure = (ctx) => {
  const number = stats.token_requests;
  if (number <= failing.after || number > failing.after + failing.count) {
    return false;
  }
  stats.failures_injected += 1;
  if (failing.mode === 'reset') {
    ctx.respond = false;
    ctx.req.socket.destroy();
  } else if (failing.mode === '503') {
    ctx.status = 503;
    ctx.type = 'text/html';
    ctx.body = '<html><head><title>503 Service Temporarily Unavailable</title></head><body>'
      + '<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>';
  } else {
    // RFC 6749 5.2: a client that failed to authenticate gets 401 invalid_client
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Basic realm="token"');
    ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
  }
  return true;
};

const start = (issuer, port) => {
  const provider = new Provider(issuer, {
    clients: config.clients,
    // token_path lets a test serve the token endpoint where Microsoft Entra ID has it ({tenant}/oauth2/v2.0/token)
    ...(config.token_path ? { routes: { token: config.token_path } } : {}),
    jwks: { keys: [jwk] },
    scopes: [...config.scopes, ...(config.extra_scopes || [])],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 8707 resource indicators: the token is a JWT whose audience is the resource server.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => config.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => {
          if (resource !== config.resource) {
            throw new errors.InvalidTarget('unknown resource server');
          }
          return {
            scope: resourceScopes,
            audience: resource,
            accessTokenTTL: (config.client_ttls || {})[client.clientId] || ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  });
  provider.on('grant.success', () => { stats.tokens_issued += 1; });
  provider.on('grant.error', () => { stats.token_errors += 1; });
  provider.use(async (ctx, next) => {
    if (ctx.path === '/test/stats') {
      ctx.body = stats;
      return;
    }
    if (ctx.path === '/test/tokens') {
      ctx.body = { tokens: issued };
      return;
    }
    if (ctx.path === '/test/fail' && ctx.method === 'POST') {
      const mode = ctx.query.mode || 'reset';
      if (!FAILURE_MODES.includes(mode)) {
        ctx.status = 400;
        ctx.body = { error: `mode must be one of ${FAILURE_MODES.join(', ')}` };
        return;
      }
      Object.assign(failing, { after: Number(ctx.query.after || 0), count: Number(ctx.query.count || 0), mode });
      ctx.body = failing;
      return;
    }
    const tokenRequest = ctx.path === (config.token_path || '/token') && ctx.method === 'POST';
    if (tokenRequest) {
      stats.token_requests += 1;
      if (injectFailure(ctx)) {
        return;
      }
    }
    await next();
    if (tokenRequest && ctx.body && ctx.body.access_token) {
      issued.push(ctx.body.access_token);
    }
  });
  return provider.listen(port, '127.0.0.1');
};

// The issuer must name the port, which is only known once listening: find a free one first.

const port = Number(values.port) || await new Promise((resolve, reject) => {
  const probe = createServer();
  probe.once('error', reject);
  probe.listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});
const issuer = `http://127.0.0.1:${port}`;
const server = start(issuer, port);
server.on('listening', () => process.stdout.write(`READY ${issuer}\n`));
server.on('error', (err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
