// Interoperability: the `kinetic` command against node-oidc-provider (OpenID Certified), which
// provider.mjs runs over TLS on 127.0.0.1. run.sh starts the provider and then this script with:
//   KINETIC_BIN         the kinetic binary (the debug build)
//   OIDC_ISSUER         https://127.0.0.1:PORT
//   OIDC_CA             the PEM file of the throwaway CA (kinetic's SSLServerCert; this script
//                       trusts it through NODE_EXTRA_CA_CERTS)
//   OIDC_DAEMON_SECRET  kinetic-daemon's client secret (never printed)
//   OIDC_WORK           a scratch directory (kinetic's configuration directory and token stores)
//   OIDC_DEBUG          when set, kinetic's stderr (masked) is shown for every run
//
// Every kinetic command runs with no DISPLAY, so a browser sign-in prints its address on stderr and
// waits on its loopback listener; the "browser" here is an HTTP client with a cookie jar that does
// what a person would: opens the address, submits the provider's sign-in form (any login) and
// consent form, and follows the redirect to kinetic's listener (or hands it to `kinetic oauth
// access-token`). Each access token kinetic prints is checked: a JWT signed by the provider's key
// (its JWKS), its iss, aud, client_id, sub, scope and lifetime. Tokens, codes and secrets are never
// printed: kinetic's stdout is not shown, and anything shaped like a JWT or equal to the secret is
// masked in what is.
//
// Prints `oidc-provider: <check> ok` per check, then `oidc-provider interop: N passed, M failed`;
// exits 1 on any failure.
import { spawn } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';

const BIN = process.env.KINETIC_BIN;
const ISSUER = process.env.OIDC_ISSUER;
const CA = process.env.OIDC_CA;
const SECRET = process.env.OIDC_DAEMON_SECRET;
const WORK = process.env.OIDC_WORK;
for (const [name, value] of Object.entries({ KINETIC_BIN: BIN, OIDC_ISSUER: ISSUER, OIDC_CA: CA, OIDC_DAEMON_SECRET: SECRET, OIDC_WORK: WORK })) {
  if (!value) {
    console.error(`oidc-provider: ${name} is not set (run tests/interop/oidc-provider/run.sh)`);
    process.exit(2);
  }
}
const API = 'urn:kinetic:interop:api';
const KINETIC_TIMEOUT_MS = 45_000;

class Failure extends Error {}

function check(condition, message) {
  if (!condition) {
    throw new Failure(message);
  }
}

/** Masks tokens and the secret in text that is about to be printed. */
function masked(text) {
  let out = String(text).replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '<jwt>');
  if (SECRET) {
    out = out.split(SECRET).join('<secret>');
  }
  return out.replace(/([?&](?:code|state|code_challenge)=)[^&\s]+/g, '$1<redacted>');
}

// ---- kinetic ----

const children = new Set();
function killChildren() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}

/** The environment of a kinetic run: none of the caller's KINETIC_* settings, no display, a
 *  configuration directory of its own, loopback never through a proxy. */
function kineticEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('KINETIC_') || ['DISPLAY', 'WAYLAND_DISPLAY', 'BROWSER'].includes(k) || /_proxy$/i.test(k)) {
      continue;
    }
    env[k] = v;
  }
  env.KINETIC_CONFIG_DIR = join(WORK, 'config');
  env.NO_PROXY = '127.0.0.1,localhost';
  return { ...env, ...extra };
}

/** Runs kinetic with `args`; `onStderrLine` sees stderr line by line while it runs. */
function kinetic(args, { env = {}, onStderrLine, timeoutMs = KINETIC_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: kineticEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let partial = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Failure(`kinetic ${args[0]} did not finish within ${timeoutMs / 1000} s; stderr: ${masked(stderr)}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => {
      stderr += d;
      partial += d;
      let nl;
      while ((nl = partial.indexOf('\n')) !== -1) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (onStderrLine) {
          onStderrLine(line, child);
        }
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (process.env.OIDC_DEBUG) {
        console.log(`  kinetic ${args[0]} ${args[1] === '-c' ? '' : args[1]} exited ${code}; stderr: ${masked(stderr.trim())}`);
      }
      resolve({ code, stdout, stderr });
    });
  });
}

/** A loopback port that is free now, for a CallbackURL: the connection string refuses port 0,
 *  so the OS picks one here and kinetic listens on it. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A connection string from properties. */
function conn(props) {
  return Object.entries(props).map(([k, v]) => `${k}=${v}`).join(';');
}

// URL is required by every connection, but `token`, `login` and `oauth` only talk to the identity
// provider: nothing listens here, and nothing must call it.
const BASE = {
  URL: 'https://127.0.0.1:9',
  ERPInstance: 'Kinetic',
  AuthScheme: 'OAuth',
  SSLServerCert: CA,
  Scope: 'api:read',
};

// ---- tokens ----

let jwks;
async function loadJwks() {
  const res = await fetch(`${ISSUER}/jwks`);
  check(res.ok, `GET ${ISSUER}/jwks answered ${res.status}`);
  jwks = (await res.json()).keys;
  check(Array.isArray(jwks) && jwks.length > 0, 'the provider publishes no keys');
}

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** The claims of an access token kinetic printed, after checking it is one line holding a JWT
 *  signed by one of the provider's keys. */
function verifiedClaims(stdout, what) {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  check(lines.length === 1, `${what}: expected the token alone on stdout, got ${lines.length} lines`);
  const token = lines[0].trim();
  const parts = token.split('.');
  check(parts.length === 3, `${what}: the access token is not a JWT`);
  const header = b64json(parts[0]);
  const key = jwks.find((k) => k.kid === header.kid);
  check(key, `${what}: the token's kid ${header.kid} is not in the provider's JWKS`);
  check(header.alg === 'RS256', `${what}: alg ${header.alg}, expected RS256`);
  const ok = verify(
    'RSA-SHA256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    createPublicKey({ key, format: 'jwk' }),
    Buffer.from(parts[2], 'base64url'),
  );
  check(ok, `${what}: the token's signature does not verify with the provider's key`);
  return { token, header, claims: b64json(parts[1]) };
}

function checkClaims(what, claims, want) {
  const now = Math.floor(Date.now() / 1000);
  check(claims.iss === ISSUER, `${what}: iss ${claims.iss}, expected ${ISSUER}`);
  check(claims.aud === API, `${what}: aud ${claims.aud}, expected ${API}`);
  check(claims.client_id === want.client_id, `${what}: client_id ${claims.client_id}, expected ${want.client_id}`);
  check(claims.sub === want.sub, `${what}: sub ${claims.sub}, expected ${want.sub}`);
  check(String(claims.scope).split(' ').includes('api:read'), `${what}: scope ${claims.scope} lacks api:read`);
  check(claims.exp > now, `${what}: the token has expired (exp ${claims.exp}, now ${now})`);
  check(claims.exp - claims.iat === want.lifetime, `${what}: lifetime ${claims.exp - claims.iat} s, expected ${want.lifetime}`);
  check(typeof claims.jti === 'string' && claims.jti.length > 0, `${what}: no jti`);
}

// ---- the browser ----

/** An HTTP client with a cookie jar that follows redirects by hand, as a browser would. */
class Browser {
  constructor() {
    this.cookies = new Map();
  }

  cookieHeader(url) {
    const u = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => c.host === u.host && u.pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  keep(url, res) {
    const u = new URL(url);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        if (k.toLowerCase() === 'path') {
          path = v;
        } else if (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) {
          expired = true;
        } else if (k.toLowerCase() === 'max-age' && Number(v) <= 0) {
          expired = true;
        }
      }
      const key = `${u.host} ${path} ${name}`;
      if (expired) {
        this.cookies.delete(key);
      } else {
        this.cookies.set(key, { host: u.host, path, name, value });
      }
    }
  }

  async request(url, form) {
    const headers = { 'user-agent': 'kinetic-interop-browser' };
    const cookie = this.cookieHeader(url);
    if (cookie) {
      headers.cookie = cookie;
    }
    const init = { headers, redirect: 'manual' };
    if (form) {
      init.method = 'POST';
      headers['content-type'] = 'application/x-www-form-urlencoded';
      init.body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, init);
    this.keep(url, res);
    return res;
  }

  /** Requests `url` (POSTing `form` if given) and follows redirects until a page is answered, or
   *  until a redirect whose target `stop` accepts (returned unrequested, as `{ stopped }`). */
  async go(url, form, stop = () => false) {
    let current = url;
    let body = form;
    for (let hop = 0; hop < 20; hop += 1) {
      const res = await this.request(current, body);
      body = undefined;
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get('location'), current).href;
        await res.arrayBuffer();
        if (stop(next)) {
          return { stopped: next };
        }
        current = next;
        continue;
      }
      return { url: current, status: res.status, html: await res.text() };
    }
    throw new Failure(`more than 20 redirects from ${masked(url)}`);
  }
}

const unescapeHtml = (s) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The POST forms of a page: action and the named inputs' values. */
function forms(page) {
  const out = [];
  for (const m of page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attr = (text, name) => {
      const a = text.match(new RegExp(`\\b${name}="([^"]*)"`, 'i'));
      return a ? unescapeHtml(a[1]) : undefined;
    };
    if ((attr(m[1], 'method') || 'get').toLowerCase() !== 'post') {
      continue;
    }
    const fields = {};
    for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const name = attr(input[1], 'name');
      if (name) {
        fields[name] = attr(input[1], 'value') ?? '';
      }
    }
    out.push({ action: new URL(attr(m[1], 'action') || page.url, page.url).href, fields });
  }
  return out;
}

/** Signs in as `login` and consents on the provider's pages, from an authorization URL to the
 *  redirect back to the client (not requested). `abort` leaves at the sign-in page instead. */
async function signIn(browser, authorizationUrl, login, { abort = false } = {}) {
  const toClient = (u) => !u.startsWith(ISSUER);
  let step = await browser.go(authorizationUrl, undefined, toClient);
  const seen = [];
  for (let i = 0; i < 5 && !step.stopped; i += 1) {
    check(step.status === 200, `the provider answered ${step.status} at ${new URL(step.url).pathname}: ${masked(step.html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300))}`);
    const form = forms(step).find((f) => f.fields.prompt);
    check(form, `no sign-in or consent form at ${new URL(step.url).pathname}`);
    seen.push(form.fields.prompt);
    if (abort) {
      const link = step.html.match(/href="([^"]*\/abort)"/);
      check(link, 'no abort link on the sign-in page');
      step = await browser.go(new URL(unescapeHtml(link[1]), step.url).href, undefined, toClient);
      continue;
    }
    if (form.fields.prompt === 'login') {
      step = await browser.go(form.action, { ...form.fields, login, password: 'any password' }, toClient);
    } else {
      step = await browser.go(form.action, form.fields, toClient);
    }
  }
  check(step.stopped, 'the provider never redirected back to the client');
  return { redirect: step.stopped, prompts: seen };
}

// ---- the checks ----

const results = [];
async function run(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push(true);
    console.log(`oidc-provider: ${name} ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push(false);
    console.log(`oidc-provider: ${name} FAILED: ${masked(e instanceof Failure ? e.message : e.stack || e)}`);
  }
}

/** A refused sign-in is the identity provider's OAuth error: exit 4 (not signed in), and no hint
 *  meant for Epicor's own refusals (User/Password; a malformed request). */
function checkNoWrongHint(r) {
  check(r.code === 4, `exit code ${r.code}, expected 4 (not signed in)`);
  check(!/User\/Password|malformed|kinetic describe/i.test(r.stderr), `stderr gives a hint for another failure: ${masked(r.stderr.trim())}`);
}

function expectSuccess(what, r) {
  check(r.code === 0, `${what} exited ${r.code}; stderr: ${masked(r.stderr.trim())}`);
}

/** `kinetic token` for a connection that has signed in: a token, and no new sign-in started. */
async function tokenWithoutSignIn(connection, what) {
  let prompted = false;
  const r = await kinetic(['token', '-c', connection], {
    timeoutMs: 20_000,
    onStderrLine: (line, child) => {
      if (/Open this address|enter the code/i.test(line)) {
        prompted = true;
        child.kill('SIGKILL');
      }
    },
  });
  check(!prompted, `${what}: kinetic token started a new sign-in instead of using the stored tokens`);
  expectSuccess(what, r);
  return verifiedClaims(r.stdout, what);
}

/** Runs `kinetic login` for a browser sign-in and drives the browser from the address it prints. */
async function browserLogin(connection, login, { abort = false } = {}) {
  const browser = new Browser();
  let signedIn;
  const r = await kinetic(['login', '-c', connection], {
    onStderrLine: (line, child) => {
      if (line.startsWith('https://') && !signedIn) {
        signedIn = (async () => {
          const url = line.trim();
          const { redirect, prompts } = await signIn(browser, url, login, { abort });
          // The browser follows the redirect to kinetic's loopback listener.
          const res = await browser.request(redirect);
          const page = await res.text();
          return { url, redirect, prompts, status: res.status, page };
        })();
        // A browser that failed never reaches the listener: stop kinetic rather than let it wait.
        // The failure itself is reported through `signedIn` below.
        signedIn.catch(() => child.kill('SIGKILL'));
      }
    },
  });
  check(signedIn, `kinetic login printed no sign-in address; exit ${r.code}, stderr: ${masked(r.stderr.trim())}`);
  return { r, browser: await signedIn };
}

function checkAuthorizationUrl(url, { prompt }) {
  const u = new URL(url);
  check(u.origin + u.pathname === `${ISSUER}/auth`, `the sign-in address is not the provider's authorization endpoint: ${u.origin}${u.pathname}`);
  const q = u.searchParams;
  check(q.get('response_type') === 'code', `response_type ${q.get('response_type')}`);
  check(q.get('code_challenge_method') === 'S256' && (q.get('code_challenge') || '').length >= 43, 'no S256 PKCE challenge');
  check((q.get('state') || '').length >= 16, 'no state');
  check(q.get('scope').split(' ').includes('offline_access'), `scope ${q.get('scope')} lacks offline_access`);
  check(q.get('prompt') === prompt, `prompt ${q.get('prompt')}, expected ${prompt}`);
  return q;
}

await run('discovery and keys', async () => {
  await loadJwks();
});

// 1. Client credentials.
const daemon = conn({ ...BASE, OAuthGrantType: 'CLIENT', OAuthIssuer: ISSUER, OAuthClientId: 'kinetic-daemon' });

await run('client_credentials: kinetic token', async () => {
  const r = await kinetic(['token', '-c', daemon], { env: { KINETIC_OAUTHCLIENTSECRET: SECRET } });
  expectSuccess('kinetic token', r);
  const { header, claims } = verifiedClaims(r.stdout, 'client_credentials');
  check(header.typ === 'at+jwt', `typ ${header.typ}, expected at+jwt`);
  checkClaims('client_credentials', claims, { client_id: 'kinetic-daemon', sub: 'kinetic-daemon', lifetime: 3600 });
});

await run('client_credentials with a client registered for client_secret_basic', async () => {
  const basic = conn({ ...BASE, OAuthGrantType: 'CLIENT', OAuthIssuer: ISSUER, OAuthClientId: 'kinetic-daemon-basic' });
  const r = await kinetic(['-v', 'token', '-c', basic], { env: { KINETIC_OAUTHCLIENTSECRET: SECRET } });
  expectSuccess('kinetic token', r);
  const { claims } = verifiedClaims(r.stdout, 'client_credentials');
  checkClaims('client_credentials', claims, { client_id: 'kinetic-daemon-basic', sub: 'kinetic-daemon-basic', lifetime: 3600 });
  check(!r.stderr.includes(SECRET), 'the log shows the client secret');
});

// 4. Failures are the provider's OAuth errors.
await run('client_credentials with a wrong secret: the OAuth error invalid_client', async () => {
  const wrong = `not-${SECRET.slice(0, 8)}-wrong`;
  const r = await kinetic(['token', '-c', daemon], { env: { KINETIC_OAUTHCLIENTSECRET: wrong } });
  check(r.code !== 0, 'kinetic token succeeded with a wrong client secret');
  check(r.stdout.trim() === '', 'kinetic token printed something on stdout although it failed');
  check(/identity provider refused: invalid_client\b.*check OAuthClientId/.test(r.stderr), `stderr does not name invalid_client and the settings to check: ${masked(r.stderr.trim())}`);
  checkNoWrongHint(r);
  check(!r.stderr.includes(wrong), 'stderr shows the client secret');
});

// 2. Authorization code + PKCE, as a person signs in: kinetic login, then kinetic token.
const desktopPort = await freePort();
const desktop = conn({
  ...BASE,
  OAuthGrantType: 'CODE',
  InitiateOAuth: 'GETANDREFRESH',
  OAuthAuthority: ISSUER,
  OAuthClientId: 'kinetic-desktop',
  CallbackURL: `http://localhost:${desktopPort}/callback`,
  Prompt: 'consent',
  OAuthSettingsLocation: join(WORK, 'desktop-tokens.json.enc'),
});

await run('authorization_code + PKCE: kinetic login (browser, Prompt=consent)', async () => {
  const { r, browser } = await browserLogin(desktop, 'alice');
  expectSuccess('kinetic login', r);
  const q = checkAuthorizationUrl(browser.url, { prompt: 'consent' });
  const redirectUri = new URL(q.get('redirect_uri'));
  check(redirectUri.href === `http://localhost:${desktopPort}/callback`, `redirect_uri ${redirectUri} is not CallbackURL`);
  check(browser.prompts.join(',') === 'login,consent', `the provider's interactions were ${browser.prompts.join(',')}, expected login,consent`);
  const back = new URL(browser.redirect);
  check(back.origin + back.pathname === redirectUri.origin + redirectUri.pathname, 'the provider redirected elsewhere than redirect_uri');
  check(back.searchParams.get('iss') === ISSUER && back.searchParams.get('code'), 'the redirect carries no code from the issuer');
  check(browser.status === 200 && /signed in/i.test(browser.page), `kinetic's listener answered ${browser.status}`);
  check(/signed in/.test(r.stderr), 'kinetic login did not say it signed in');
});

let desktopJti;
await run('authorization_code: kinetic token afterwards refreshes (no new sign-in)', async () => {
  // The access tokens of kinetic-desktop live 30 s, under kinetic's 60 s margin: each kinetic
  // token redeems the stored refresh token, which the provider rotates (a public client).
  const first = await tokenWithoutSignIn(desktop, 'first kinetic token');
  checkClaims('first kinetic token', first.claims, { client_id: 'kinetic-desktop', sub: 'alice', lifetime: 30 });
  const second = await tokenWithoutSignIn(desktop, 'second kinetic token');
  checkClaims('second kinetic token', second.claims, { client_id: 'kinetic-desktop', sub: 'alice', lifetime: 30 });
  check(first.claims.jti !== second.claims.jti, 'the second kinetic token returned the same token: no refresh happened');
  desktopJti = second.claims.jti;
});

await run('authorization_code with the default Prompt: no prompt sent, sign-in works', async () => {
  const connection = conn({
    ...BASE,
    OAuthGrantType: 'CODE',
    InitiateOAuth: 'GETANDREFRESH',
    OAuthIssuer: ISSUER,
    OAuthClientId: 'kinetic-desktop',
    CallbackURL: `http://127.0.0.1:${await freePort()}/callback`,
    OAuthSettingsLocation: join(WORK, 'default-prompt-tokens.json.enc'),
  });
  const { r, browser } = await browserLogin(connection, 'carol');
  expectSuccess('kinetic login', r);
  checkAuthorizationUrl(browser.url, { prompt: null });
  check(browser.status === 200, `kinetic's listener answered ${browser.status}`);
});

await run('authorization_code refused at the provider: the OAuth error access_denied', async () => {
  const connection = conn({
    ...BASE,
    OAuthGrantType: 'CODE',
    InitiateOAuth: 'GETANDREFRESH',
    OAuthIssuer: ISSUER,
    OAuthClientId: 'kinetic-desktop',
    CallbackURL: `http://localhost:${await freePort()}/callback`,
    Prompt: 'consent',
    OAuthSettingsLocation: join(WORK, 'aborted-tokens.json.enc'),
  });
  const { r } = await browserLogin(connection, 'mallory', { abort: true });
  check(r.code !== 0, 'kinetic login succeeded although the sign-in was aborted');
  check(/identity provider refused: access_denied: End-User aborted interaction/.test(r.stderr), `stderr does not name access_denied: ${masked(r.stderr.trim())}`);
  checkNoWrongHint(r);
});

// 2b. CData's procedures: GetOAuthAuthorizationURL, GetOAuthAccessToken, RefreshOAuthAccessToken.
await run('procedures: kinetic oauth authorization-url / access-token / refresh', async () => {
  const web = conn({
    ...BASE,
    OAuthGrantType: 'CODE',
    InitiateOAuth: 'GETANDREFRESH',
    OAuthAuthority: ISSUER,
    OAuthClientId: 'kinetic-desktop',
    CallbackURL: 'http://localhost/callback',
    Prompt: 'consent',
    OAuthSettingsLocation: join(WORK, 'web-tokens.json.enc'),
  });
  const a = await kinetic(['oauth', 'authorization-url', '-c', web]);
  expectSuccess('kinetic oauth authorization-url', a);
  const url = a.stdout.trim();
  const q = checkAuthorizationUrl(url, { prompt: 'consent' });
  check(q.get('redirect_uri') === 'http://localhost/callback', `redirect_uri ${q.get('redirect_uri')}`);
  const { redirect } = await signIn(new Browser(), url, 'dave');
  check(redirect.startsWith('http://localhost/callback?'), 'the provider redirected elsewhere than CallbackURL');
  // The whole redirect, so that kinetic checks its state against the pending request's.
  const t = await kinetic(['oauth', 'access-token', '--verifier', redirect, '-c', web]);
  expectSuccess('kinetic oauth access-token', t);
  const got = verifiedClaims(t.stdout, 'oauth access-token');
  checkClaims('oauth access-token', got.claims, { client_id: 'kinetic-desktop', sub: 'dave', lifetime: 30 });
  const f = await kinetic(['oauth', 'refresh', '-c', web]);
  expectSuccess('kinetic oauth refresh', f);
  const refreshed = verifiedClaims(f.stdout, 'oauth refresh');
  checkClaims('oauth refresh', refreshed.claims, { client_id: 'kinetic-desktop', sub: 'dave', lifetime: 30 });
  check(refreshed.claims.jti !== got.claims.jti, 'kinetic oauth refresh returned the same token');
  check(refreshed.claims.jti !== desktopJti, 'the procedures returned the desktop sign-in\'s token');
});

// 3. Device code.
const device = conn({
  ...BASE,
  OAuthGrantType: 'DEVICE',
  InitiateOAuth: 'GETANDREFRESH',
  OAuthIssuer: ISSUER,
  OAuthClientId: 'kinetic-device',
  OAuthSettingsLocation: join(WORK, 'device-tokens.json.enc'),
});

/** Runs `kinetic login` for a device sign-in and enters the code it prints on the provider's pages. */
async function deviceLogin(connection, login, { abort = false } = {}) {
  let approved;
  const r = await kinetic(['login', '-c', connection], {
    onStderrLine: (line, child) => {
      const m = line.match(/open (https:\/\/\S+) in a web browser and enter the code (\S+?)\.?$/);
      if (m && !approved) {
        approved = (async () => {
          const [, verificationUri, userCode] = m;
          check(verificationUri === `${ISSUER}/device`, `verification URL ${verificationUri}`);
          const browser = new Browser();
          let page = await browser.go(verificationUri);
          const input = forms(page).find((f) => 'user_code' in f.fields);
          check(input, 'no code form on the verification page');
          page = await browser.go(input.action, { ...input.fields, user_code: userCode });
          const confirm = forms(page).find((f) => f.fields.confirm === 'yes');
          check(confirm, `the code was not accepted: ${masked(page.html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 200))}`);
          const fields = abort ? { ...confirm.fields, abort: 'yes' } : confirm.fields;
          const toClient = () => false;
          page = await browser.go(confirm.action, fields, toClient);
          const prompts = [];
          for (let i = 0; i < 5 && !abort; i += 1) {
            const f = forms(page).find((x) => x.fields.prompt);
            if (!f) {
              break;
            }
            prompts.push(f.fields.prompt);
            page = await browser.go(f.action, f.fields.prompt === 'login' ? { ...f.fields, login, password: 'any password' } : f.fields);
          }
          return { prompts, page };
        })();
        approved.catch(() => child.kill('SIGKILL'));
      }
    },
  });
  check(approved, `kinetic login printed no device code; exit ${r.code}, stderr: ${masked(r.stderr.trim())}`);
  return { r, approved: await approved };
}

await run('device_code: kinetic login (code entered and approved on the provider)', async () => {
  const { r, approved } = await deviceLogin(device, 'bob');
  check(approved.prompts.join(',') === 'login,consent', `the provider's interactions were ${approved.prompts.join(',')}, expected login,consent`);
  check(/Sign-in Success/.test(approved.page.html), 'the provider did not show its success page');
  expectSuccess('kinetic login', r);
});

await run('device_code: kinetic token afterwards uses the stored token (no new sign-in)', async () => {
  const first = await tokenWithoutSignIn(device, 'first kinetic token');
  checkClaims('device kinetic token', first.claims, { client_id: 'kinetic-device', sub: 'bob', lifetime: 3600 });
  const second = await tokenWithoutSignIn(device, 'second kinetic token');
  check(second.claims.jti === first.claims.jti, 'the stored, fresh token was not reused');
  const f = await kinetic(['oauth', 'refresh', '-c', device]);
  expectSuccess('kinetic oauth refresh (device sign-in)', f);
  const refreshed = verifiedClaims(f.stdout, 'device refresh');
  checkClaims('device refresh', refreshed.claims, { client_id: 'kinetic-device', sub: 'bob', lifetime: 3600 });
  check(refreshed.claims.jti !== first.claims.jti, 'the refresh returned the same token');
});

await run('device_code declined on the provider: reported as declined', async () => {
  const connection = conn({ ...BASE, OAuthGrantType: 'DEVICE', InitiateOAuth: 'GETANDREFRESH', OAuthIssuer: ISSUER, OAuthClientId: 'kinetic-device', OAuthSettingsLocation: join(WORK, 'declined-tokens.json.enc') });
  const { r } = await deviceLogin(connection, 'eve', { abort: true });
  check(r.code !== 0, 'kinetic login succeeded although the device sign-in was declined');
  check(/identity provider refused: access_denied\b.*declined/.test(r.stderr), `stderr does not say the sign-in was declined with access_denied: ${masked(r.stderr.trim())}`);
  checkNoWrongHint(r);
});

const passed = results.filter(Boolean).length;
const failed = results.length - passed;
console.log(`oidc-provider interop: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
