// examples/webapp end to end in a real browser: Debian's Chromium, driven by Playwright
// (playwright-core, executablePath /usr/bin/chromium, headless, no browser download).
//
// Starts, all on 127.0.0.1 and ports the OS picks: Redis (Debian's redis-server), the emulator
// (`kinetic emulator`, with 20-second tokens, consent needed for Epicor, Alice limited to company
// EPIC06 and Bob to EPIC03, Carol held to a second factor for Epicor by a Conditional Access
// policy), two instances of the web app sharing the Redis and the cookie key (A proving the app with
// its secret, B with its certificate), and a round-robin proxy in front of them (each request to the
// next instance). Then a person signs in, consents, reads, updates, browses until her token is
// renewed, survives a Redis outage and restart, signs out; Carol steps up to the second factor; with the
// security checks of the issue along the way. Screenshots of each
// step go to target/webapp-e2e/. Prints `webapp e2e: N passed, M failed` and the figures last.
//
// Environment: KINETIC_BIN (the kinetic binary), WEBAPP_BIN (kinetic-webapp), CHROMIUM
// (default /usr/bin/chromium), E2E_OUT (the screenshot folder).

import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';

const KINETIC = process.env.KINETIC_BIN;
const WEBAPP = process.env.WEBAPP_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = process.env.E2E_OUT;
const TENANT = '4b1d5e7a-9c2f-4e3a-8b6d-0a1c2e3f4a5b';
const WEB_APP = 'a7e2b9c1-3d5f-4b8a-9c1d-3c4d5e6f7081';
const WEB_SECRET = 'webapp-secret-0123456789abcdef';
const EPICOR = 'e91c0d4f-6a3b-4c2d-9e8f-1a2b3c4d5e6f';
const ALICE = { upn: 'alice@kinetic.example', password: 'Alice123!', oid: '0a11ce00-0000-4000-8000-00000000a11c' };
const BOB = { upn: 'bob@kinetic.example', password: 'Bob123!', oid: '00b0b000-0000-4000-8000-000000000b0b' };
const CAROL = { upn: 'carol@kinetic.example', password: 'Carol123!', oid: '0ca501a0-0000-4000-8000-0000000ca501', code: '246810' };
const MFA_POLICY = '9ab03e19-ed42-4168-b6b7-7001fb3e933a';
const LIFETIME = 20;

let passed = 0;
let failed = 0;
const figures = [];
const shots = [];
const children = [];
const logs = { A: '', B: '', emulator: '' };

function check(name, ok, detail = '') {
  if (ok) {
    passed++;
    console.log(`  ok: ${name}`);
  } else {
    failed++;
    console.log(`  FAILED: ${name}${detail ? ` (${detail})` : ''}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `ready()` holds (polled every 20 ms), for `seconds` at most: a wait on an event, with
 * a generous deadline, never a guess of how long something takes. Throws naming `what`. */
async function until(what, ready, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await ready();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(20);
  }
}

/** `text` as a literal in a regular expression. */
const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function freePort() {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}

/** Starts a program; resolves with its first stdout line parsed as JSON. */
async function startJson(name, bin, args, env) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stderr.on('data', (d) => { logs[name] = (logs[name] + d.toString()).slice(-200_000); });
  let buffered = '';
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} printed no start-up line: ${logs[name].slice(-2000)}`)), 60_000);
    child.stdout.on('data', (d) => {
      buffered += d.toString();
      const nl = buffered.indexOf('\n');
      if (nl >= 0 && timer) {
        clearTimeout(timer);
        try { resolve(JSON.parse(buffered.slice(0, nl))); } catch (e) { reject(e); }
      }
    });
    child.on('exit', (code) => reject(new Error(`${name} exited (${code}): ${logs[name].slice(-2000)}`)));
  });
}

class Redis {
  constructor(port) { this.port = port; this.child = null; }
  async start() {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    children.push(this.child);
    for (let i = 0; i < 200; i++) {
      if (await new Promise((r) => { const s = net.connect(this.port, '127.0.0.1', () => { s.end(); r(true); }); s.on('error', () => r(false)); })) return;
      await sleep(25);
    }
    throw new Error('redis-server did not start');
  }
  async stop() { this.child.kill('SIGKILL'); await once(this.child, 'exit'); }
  keys(pattern) {
    return execFileSync('redis-cli', ['-p', String(this.port), '--raw', 'KEYS', pattern]).toString().split('\n').filter(Boolean);
  }
}

/** A round-robin HTTP proxy: each request goes to the next instance. */
function roundRobin(port, backends) {
  const served = Object.fromEntries(backends.map((b) => [b.name, 0]));
  let next = 0;
  const server = http.createServer((req, res) => {
    const b = backends[next++ % backends.length];
    served[b.name]++;
    const up = http.request({ host: '127.0.0.1', port: b.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.rawHeaders);
      r.pipe(res);
    });
    up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(up);
  });
  server.listen(port, '127.0.0.1');
  return { server, served };
}

const CONFIG = `
[[users]]
id = "manager"
password = "Epicor123!"
name = "Demo Manager"
external_ids = ["${ALICE.oid}"]
companies = ["EPIC06"]
admin = true

[[users]]
id = "integration"
password = "Integration123!"
name = "Integration User"
external_ids = ["${BOB.oid}"]
companies = ["EPIC03"]

[[users]]
id = "carol"
password = "Carol123!"
name = "Carol Example"
external_ids = ["${CAROL.oid}"]
companies = ["EPIC06"]

[idp]
token_lifetime_secs = ${LIFETIME}

[[idp.users]]
upn = "${ALICE.upn}"
password = "${ALICE.password}"
display_name = "Alice Example"
object_id = "${ALICE.oid}"

[[idp.users]]
upn = "${BOB.upn}"
password = "${BOB.password}"
display_name = "Bob Example"
object_id = "${BOB.oid}"

[[idp.users]]
upn = "${CAROL.upn}"
password = "${CAROL.password}"
display_name = "Carol Example"
object_id = "${CAROL.oid}"
mfa_code = "${CAROL.code}"

# Conditional Access: Carol needs a second factor for Epicor (she has consented already).
[[idp.conditional_access]]
id = "${MFA_POLICY}"
name = "MFA for Epicor"
users = ["${CAROL.upn}"]
resources = ["api://${EPICOR}"]

[[idp.consents]]
user = "${CAROL.upn}"
client_id = "${WEB_APP}"
resource = "${EPICOR}"
scopes = ["user_impersonation"]

[[idp.apps]]
name = "epicor_server"
client_id = "${EPICOR}"
app_id_uri = "api://${EPICOR}"
scopes = ["user_impersonation"]

[[idp.apps]]
name = "web_app"
client_id = "${WEB_APP}"
secrets = [{ value = "${WEB_SECRET}" }]
generate_certificate = true
redirect_uris = ["http://127.0.0.1/auth/callback", "http://127.0.0.1"]
app_id_uri = "api://${WEB_APP}"
scopes = ["access_as_user"]
`;

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const work = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'kinetic-webapp-e2e-'));
  fs.writeFileSync(path.join(work, 'emulator.toml'), CONFIG);

  const redis = new Redis(await freePort());
  await redis.start();
  const emu = await startJson('emulator', KINETIC, ['emulator', '--port', '0', '--scale', '400', '--config', path.join(work, 'emulator.toml')], {});
  const authority = emu.idp.authority;
  const proxyPort = await freePort();
  const publicUrl = `http://127.0.0.1:${proxyPort}`;
  // Instance A proves the app with its client secret, B with its certificate (a client assertion
  // signed with the key the emulator made for the registration): both confidential-client forms.
  const webCert = path.join(path.dirname(emu.idp.apps.web_app.certificate), 'web_app-key-and-cert.pem');
  const credentials = { A: `OAuthClientSecret=${WEB_SECRET}`, B: `OAuthJWTCert=${webCert};OAuthJWTCertType=PEMKEY_FILE` };
  const connection = (name) => `URL=${emu.url};ERPInstance=${emu.instance};ApiKey=${emu.api_key};AuthScheme=AzureAD;AzureTenant=${TENANT};` +
    `OAuthAuthority=${new URL(authority).origin};OAuthGrantType=OBO;OAuthClientId=${WEB_APP};${credentials[name]};` +
    `Scope=api://${EPICOR}/user_impersonation;OAuthSettingsLocation=redis://127.0.0.1:${redis.port}/0;OAuthSettingsKey=${'3c'.repeat(32)}`;
  const appEnv = (name) => ({
    KINETIC_WEBAPP_LISTEN: '127.0.0.1:0',
    KINETIC_WEBAPP_URL: publicUrl,
    KINETIC_WEBAPP_CONNECTION: connection(name),
    KINETIC_WEBAPP_COOKIE_KEY: '5e'.repeat(32),
    KINETIC_WEBAPP_INSTANCE: name,
    RUST_LOG: 'info,epicor_kinetic=debug',
  });
  const a = await startJson('A', WEBAPP, [], appEnv('A'));
  const b = await startJson('B', WEBAPP, [], appEnv('B'));
  const port = (x) => Number(x.listen.split(':').pop());
  const proxy = roundRobin(proxyPort, [{ name: 'A', port: port(a) }, { name: 'B', port: port(b) }]);
  console.log(`webapp e2e: emulator ${emu.url}, redis :${redis.port}, instances A :${port(a)} and B :${port(b)} behind ${publicUrl}`);

  const stats = async () => {
    const r = await fetch(`${authority}/admin/stats`, { headers: { authorization: 'Basic ' + Buffer.from('manager:Epicor123!').toString('base64') } });
    return await r.json();
  };
  const obo = async (user) => (await stats()).on_behalf_of_by_user[user.oid] || 0;
  const customerName = async (company, num) => {
    const r = await fetch(`${emu.url}/${emu.instance}/api/v1/Erp.BO.CustomerSvc/Customers('${company}',${num})?$select=Name`, {
      headers: { authorization: 'Basic ' + Buffer.from('manager:Epicor123!').toString('base64'), 'x-api-key': emu.api_key, CallSettings: JSON.stringify({ Company: company }) },
    });
    return (await r.json()).Name;
  };

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const urls = [];
  const pagesHtml = [];
  const watch = (page) => {
    page.on('request', (r) => urls.push(r.url()));
    page.on('response', async (r) => {
      if ((r.headers()['content-type'] || '').includes('text/html')) {
        try { pagesHtml.push(await r.text()); } catch { /* a redirect has no body */ }
      }
    });
  };
  const shot = async (page, name, what) => {
    const file = path.join(OUT, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    shots.push(`${path.basename(file)}: ${what}`);
  };
  const timed = async (page, url) => {
    const t = performance.now();
    const r = await page.goto(url);
    return { ms: performance.now() - t, status: r.status() };
  };

  /** Signs `user` in through the emulator's pages; returns the page at /customers (or the consent step). */
  async function signIn(page, user, name) {
    await page.goto(`${publicUrl}/`);
    if (name) await shot(page, `${name}-home`, 'the home page, signed out');
    await page.click('#sign-in');
    await page.waitForSelector('#login');
    if (name) await shot(page, `${name}-idp-sign-in`, "the identity provider's sign-in page");
    await page.fill('#login', user.upn);
    await page.fill('#passwd', user.password);
    await page.click('#idSIButton9');
    await page.waitForLoadState();
  }

  // ---- 1. Alice signs in; Epicor needs her consent; she gives it; her customers show.
  console.log('webapp e2e: sign-in and consent');
  const alice = await browser.newContext();
  const pa = await alice.newPage();
  watch(pa);
  const authorizeUrls = [];
  pa.on('request', (r) => { if (r.url().includes('/oauth2/v2.0/authorize')) authorizeUrls.push(new URL(r.url())); });
  await signIn(pa, ALICE, 'alice');
  check('after sign-in, the app says Epicor needs consent', await pa.locator('#consent-missing').count() === 1, pa.url());
  await shot(pa, 'consent-missing', 'Epicor answered consent_required: the app says so in plain words and offers to ask');
  await pa.click('#give-consent');
  await pa.waitForSelector('#accept');
  await shot(pa, 'idp-consent', "the identity provider's consent page for the Epicor API");
  await pa.click('#accept');
  await pa.waitForSelector('#customers');
  await shot(pa, 'customers', "Alice's customers from Epicor, on her behalf (company EPIC06 only)");
  check('the page names Alice', (await pa.textContent('#who')).includes(ALICE.upn));
  const aliceCompanies = await pa.$$eval('#customers tr td:first-child', (tds) => [...new Set(tds.map((t) => t.textContent))]);
  check("Alice sees only her company's customers", aliceCompanies.length > 0 && aliceCompanies.every((c) => c === 'EPIC06'), aliceCompanies.join(','));
  check('every sign-in used PKCE S256, a state and a nonce', authorizeUrls.length >= 2 && authorizeUrls.every((u) =>
    u.searchParams.get('code_challenge_method') === 'S256' && u.searchParams.get('code_challenge') && u.searchParams.get('state') && u.searchParams.get('nonce')));

  // Cookie flags.
  const cookies = await alice.cookies(publicUrl);
  const session = cookies.find((c) => c.name === 'kinetic_session');
  check('the session cookie is HttpOnly, SameSite=Lax, not Secure over plain http, and a session cookie of this host',
    session && session.httpOnly && session.sameSite === 'Lax' && session.secure === false && session.path === '/', JSON.stringify(session && { ...session, value: '…' }));
  check('the sign-in cookie is gone once signed in', !cookies.some((c) => c.name === 'kinetic_signin'));

  // ---- 2. Open orders, and many pages over both instances: one exchange for Alice.
  await pa.click('#nav-orders');
  await pa.waitForSelector('#orders');
  await shot(pa, 'orders', "Alice's open orders");
  const oboAfterSignIn = await obo(ALICE);
  const mark = () => ({ A: logs.A.length, B: logs.B.length });
  const serverTimes = (from) => ['A', 'B'].flatMap((k) => [...logs[k].slice(from[k]).matchAll(/GET \/(?:customers|orders) 200 ([0-9.]+) ms/g)].map((m) => Number(m[1])));
  const warmMark = mark();
  const warm = [];
  for (let i = 0; i < 10; i++) warm.push(await timed(pa, `${publicUrl}/${i % 2 ? 'orders' : 'customers'}`));
  const instances = new Set();
  for (let i = 0; i < 4; i++) { await pa.goto(`${publicUrl}/customers`); instances.add(await pa.textContent('#instance')); }
  check('both instances served Alice', instances.has('A') && instances.has('B'), [...instances].join(','));
  check('every warm page answered 200', warm.every((w) => w.status === 200), warm.map((w) => w.status).join(','));
  const oboWarm = await obo(ALICE);
  check('no new on-behalf-of exchange while both instances served 14 more pages (the token shared through Redis)', oboWarm === oboAfterSignIn, `${oboAfterSignIn} -> ${oboWarm}`);
  const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
  const warmServer = serverTimes(warmMark);
  figures.push(`page latency, cache warm (two instances, round robin): in the app median ${median(warmServer).toFixed(1)} ms (max ${Math.max(...warmServer).toFixed(1)}) over ${warmServer.length} pages; in the browser (navigation to load) median ${median(warm.map((w) => w.ms)).toFixed(1)} ms`);

  // ---- 3. Update a record through the form.
  await pa.goto(`${publicUrl}/customers`);
  const editHref = await pa.getAttribute('#customers tr:nth-child(2) a', 'href');
  const [, , company, custnum] = editHref.split('/');
  await pa.goto(`${publicUrl}${editHref}`);
  const newName = `Renamed by Alice ${Date.now() % 100000}`;
  await pa.fill('#name', newName);
  await shot(pa, 'edit-form', 'the update form (with its CSRF token)');
  await pa.click('#save');
  await pa.waitForSelector('#customers');
  check('the update shows on the page', (await pa.textContent('#customers')).includes(newName));
  check('the update reached Epicor', (await customerName(company, custnum)) === newName);
  await shot(pa, 'updated', 'the customers page after the update');

  // ---- 4. CSRF: a form on another site, a post without the token, a post from another origin.
  const evilPort = await freePort();
  const evil = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!DOCTYPE html><form id="f" method="post" action="${publicUrl}${editHref}"><input name="name" value="Hacked"><input name="csrf" value="guess"></form><script>document.getElementById('f').submit()</script>`);
  });
  evil.listen(evilPort, '127.0.0.1');
  const evilPage = await alice.newPage();
  const forgedMark = mark();
  // The forged post's answer, as Alice's browser received it (it navigates there).
  const forgedAnswer = evilPage.waitForResponse((r) => r.request().method() === 'POST' && r.url() === `${publicUrl}${editHref}`);
  await evilPage.goto(`http://localhost:${evilPort}/`);
  const forged = await forgedAnswer;
  const forgedCookie = (await forged.request().allHeaders()).cookie || '';
  const forgedStatus = forged.status();
  const forgedBody = forgedStatus === 403 ? await forged.text() : '';
  // The instance that answered logged it: the post reached the app, not just the proxy.
  const forgedLine = new RegExp(`POST ${literal(editHref)} (\\d+) `);
  const logged = await until('an instance to log the forged post', () => {
    const m = ['A', 'B'].map((k) => logs[k].slice(forgedMark[k]).match(forgedLine)).find(Boolean);
    return m && Number(m[1]);
  });
  await evilPage.waitForLoadState();
  await shot(evilPage, 'csrf-cross-site-refused', 'a form on another site posting to the update URL: refused, nothing changed');
  // Refused one way or the other: sent without the session cookie (SameSite=Lax), the app answers
  // as to a stranger (sent home, 303 to /, where a saved form goes to /customers); with it, the
  // CSRF check refuses (403).
  const asStranger = forgedStatus === 303 && forged.headers().location === '/' && !forgedCookie.includes('kinetic_session');
  const byCsrf = forgedStatus === 403 && forgedBody.includes('csrf-refused');
  check(`a cross-site form post reached the app and was refused (${byCsrf ? 'by the CSRF check, 403' : 'sent without the session cookie, SameSite=Lax: answered as to a stranger, 303 home'})`,
    logged === forgedStatus && (asStranger || byCsrf),
    `logged ${logged}, answered ${forgedStatus} to ${forged.headers().location}, session cookie sent: ${forgedCookie.includes('kinetic_session')}`);
  check('a cross-site form post changed nothing', (await customerName(company, custnum)) === newName);
  await evilPage.close();
  evil.close();
  const cookieHeader = (await alice.cookies(publicUrl)).map((c) => `${c.name}=${c.value}`).join('; ');
  const post = async (body, headers = {}) => fetch(`${publicUrl}${editHref}`, {
    method: 'POST', redirect: 'manual',
    headers: { cookie: cookieHeader, 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
  const noToken = await post('name=Hacked');
  check('a post without the CSRF token is refused (403)', noToken.status === 403 && (await noToken.text()).includes('csrf-refused'), String(noToken.status));
  const csrf = await pa.getAttribute('input[name=csrf]', 'value');
  const otherOrigin = await post(`name=Hacked&csrf=${encodeURIComponent(csrf)}`, { origin: 'http://localhost:1' });
  check('a post from another origin is refused even with the token (403)', otherOrigin.status === 403, String(otherOrigin.status));
  check('the CSRF attempts changed nothing', (await customerName(company, custnum)) === newName);

  // ---- 5. Bob: his own data only; Alice's record by URL or by form field is refused.
  console.log("webapp e2e: another user's data");
  const bob = await browser.newContext();
  const pb = await bob.newPage();
  watch(pb);
  await signIn(pb, BOB);
  if (await pb.locator('#give-consent').count()) {
    await pb.click('#give-consent');
    await pb.waitForSelector('#accept');
    await pb.click('#accept');
  }
  await pb.waitForSelector('#customers');
  const bobCompanies = await pb.$$eval('#customers tr td:first-child', (tds) => [...new Set(tds.map((t) => t.textContent))]);
  check("Bob sees only his company's customers", bobCompanies.length > 0 && bobCompanies.every((c) => c === 'EPIC03'), bobCompanies.join(','));
  const byUrl = await pb.goto(`${publicUrl}${editHref}`);
  check("Alice's record by URL is refused to Bob (Epicor: no access to the company)", byUrl.status() === 403 && (await pb.textContent('#epicor-error')).includes('does not have access'), String(byUrl.status()));
  await shot(pb, 'other-users-record-refused', "Bob opening Alice's record by its URL: Epicor refuses, in plain words");
  const bobCookie = (await bob.cookies(publicUrl)).map((c) => `${c.name}=${c.value}`).join('; ');
  await pb.goto(`${publicUrl}/customers`);
  const bobCsrf = await pb.getAttribute('input[name=csrf]', 'value');
  const tampered = await fetch(`${publicUrl}${editHref}`, {
    method: 'POST', redirect: 'manual',
    headers: { cookie: bobCookie, 'content-type': 'application/x-www-form-urlencoded', origin: publicUrl },
    body: `name=Bob+was+here&csrf=${encodeURIComponent(bobCsrf)}`,
  });
  check("Bob's valid form aimed at Alice's record is refused", tampered.status === 403, String(tampered.status));
  check("Alice's record is unchanged", (await customerName(company, custnum)) === newName);
  const aliceCsrfWithBob = await fetch(`${publicUrl}${editHref}`, {
    method: 'POST', redirect: 'manual',
    headers: { cookie: bobCookie, 'content-type': 'application/x-www-form-urlencoded', origin: publicUrl },
    body: `name=Bob+was+here&csrf=${encodeURIComponent(csrf)}`,
  });
  check("Alice's CSRF token does not work in Bob's session", aliceCsrfWithBob.status === 403, String(aliceCsrfWithBob.status));

  // ---- 5b. Carol: Conditional Access wants a second factor for Epicor. The on-behalf-of exchange
  // answers interaction_required with a claims challenge; the app asks her to confirm, sends the
  // challenge back with a new sign-in; the identity provider asks for her code; then her data shows.
  console.log('webapp e2e: Conditional Access step-up');
  const carolCtx = await browser.newContext();
  const pcar = await carolCtx.newPage();
  watch(pcar);
  const carolAuthorize = [];
  pcar.on('request', (r) => { if (r.url().includes('/oauth2/v2.0/authorize')) carolAuthorize.push(new URL(r.url())); });
  await signIn(pcar, CAROL);
  check('after a password-only sign-in, the app says a second step is needed', await pcar.locator('#step-up').count() === 1, pcar.url());
  await shot(pcar, 'step-up-needed', 'Epicor answered interaction_required (Conditional Access): the app asks Carol to confirm it is her');
  check('the claims challenge is kept in an HttpOnly cookie, not in the page', (await carolCtx.cookies(publicUrl)).some((c) => c.name === 'kinetic_step_up' && c.httpOnly)
    && !(await pcar.content()).includes(MFA_POLICY));
  await pcar.click('#verify-identity');
  await pcar.waitForSelector('#otc');
  check('the identity provider asks for the code, not the password again', await pcar.locator('#passwd').count() === 0);
  const stepUpRequest = carolAuthorize[carolAuthorize.length - 1];
  check("the step-up sign-in sent the provider's claims challenge back, with PKCE and a state",
    (stepUpRequest.searchParams.get('claims') || '').includes(MFA_POLICY) && stepUpRequest.searchParams.get('code_challenge_method') === 'S256' && Boolean(stepUpRequest.searchParams.get('state')));
  await pcar.fill('#otc', '000000');
  await pcar.click('#idSubmit_SAOTCC_Continue');
  await pcar.waitForSelector('#otc');
  check('a wrong code is refused in plain words', (await pcar.textContent('#error')).includes('not valid'));
  await shot(pcar, 'idp-verify', "the identity provider's second-factor page (a wrong code refused)");
  await pcar.fill('#otc', CAROL.code);
  await pcar.click('#idSubmit_SAOTCC_Continue');
  await pcar.waitForSelector('#customers');
  await shot(pcar, 'step-up-customers', "Carol's customers after the second factor");
  const carolCompanies = await pcar.$$eval('#customers tr td:first-child', (tds) => [...new Set(tds.map((t) => t.textContent))]);
  check("after the second factor Carol sees her company's customers", carolCompanies.length > 0 && carolCompanies.every((c) => c === 'EPIC06'), carolCompanies.join(','));
  check('one on-behalf-of exchange for Carol (the refused one is not counted)', (await obo(CAROL)) === 1, String(await obo(CAROL)));
  check('the step-up cookie is gone', !(await carolCtx.cookies(publicUrl)).some((c) => c.name === 'kinetic_step_up'));
  await carolCtx.close();

  // ---- 6. Renewal: browsing on, Alice's token to the app is renewed at half its life, without a
  // sign-in, and exchanged once for both instances. The test browses until the identity provider
  // counts the renewal (an event, not a wait of a lifetime), then checks what it cost and that the
  // new token is the one both instances use from then on.
  console.log(`webapp e2e: browsing until Alice's ${LIFETIME} s token to the app is renewed`);
  const t0 = Date.now();
  const authorizeBefore = authorizeUrls.length;
  const oboBefore = await obo(ALICE);
  const refreshes = async () => (await stats()).tokens_by_grant.refresh_token || 0;
  const refreshBefore = await refreshes();
  const waiting = [];
  // Half a lifetime at most from her last renewal, whenever that was; a lifetime is generous.
  await until(`a renewal of Alice's token within ${LIFETIME} s`, async () => {
    waiting.push((await timed(pa, `${publicUrl}/${waiting.length % 2 ? 'orders' : 'customers'}`)).status);
    if ((await refreshes()) > refreshBefore) return true;
    await sleep(200);
    return false;
  }, LIFETIME);
  const renewedAt = Date.now();
  const oboRenewal = (await obo(ALICE)) - oboBefore;
  const refreshRenewal = (await refreshes()) - refreshBefore;
  check('every page answered 200 while the token aged', waiting.every((s) => s === 200), waiting.join(','));
  check('the token was renewed without a sign-in: one refresh of the token to the app, one exchange of the new one',
    refreshRenewal === 1 && oboRenewal === 1 && authorizeUrls.length === authorizeBefore, `${refreshRenewal} refreshes, ${oboRenewal} exchanges, ${authorizeUrls.length - authorizeBefore} sign-ins`);
  // From now on the session carries the new token (its cookie rewritten), and the other instance
  // finds its Epicor token in Redis: pages on both instances, and nothing more asked of the identity
  // provider (the next renewal is half a lifetime away).
  const renewedOn = new Set();
  const afterRenewal = [];
  await until('pages from both instances after the renewal', async () => {
    afterRenewal.push((await timed(pa, `${publicUrl}/customers`)).status);
    renewedOn.add(await pa.textContent('#instance'));
    return renewedOn.size === 2;
  }, LIFETIME / 4);
  const settled = { obo: (await obo(ALICE)) - oboBefore, refresh: (await refreshes()) - refreshBefore };
  check('after the renewal both instances serve the new token with no other refresh or exchange',
    afterRenewal.every((s) => s === 200) && settled.obo === 1 && settled.refresh === 1 && await pa.locator('#customers').count() === 1,
    `${afterRenewal.join(',')}; ${JSON.stringify(settled)} in ${((Date.now() - renewedAt) / 1000).toFixed(1)} s`);
  await shot(pa, 'after-renewal', `the customers page after the token to the app was renewed: no sign-in`);
  figures.push(`token renewal: Alice's ${LIFETIME} s token to the app renewed after ${((renewedAt - t0) / 1000).toFixed(1)} s of browsing (${waiting.length} pages), at half its life: ${oboRenewal} on-behalf-of exchange and ${refreshRenewal} refresh for both instances; with Entra's ~1 h tokens that is 5 minutes before expiry, so about 1 exchange per user per hour however many instances`);

  // ---- 7. Redis stopped: pages still work; restarted: used again.
  console.log('webapp e2e: Redis outage');
  await redis.stop();
  // Alice signs in on a second device: a token to the app that neither instance holds in its first
  // level, so each must ask Redis (down) and then the identity provider, for itself.
  const stopMark = mark();
  const secondDevice = await browser.newContext();
  const pd = await secondDevice.newPage();
  watch(pd);
  const oboDown = await obo(ALICE);
  await signIn(pd, ALICE);
  await pd.waitForSelector('#customers');
  const downMark = mark();
  const down = [];
  const downOn = new Set();
  for (let i = 0; i < 10; i++) {
    down.push(await timed(pd, `${publicUrl}/${i % 2 ? 'orders' : 'customers'}`));
    downOn.add(await pd.textContent('#instance'));
  }
  check('with Redis stopped every page still answers 200', down.every((d) => d.status === 200), down.map((d) => d.status).join(','));
  await shot(pd, 'redis-down', 'the customers page with Redis stopped');
  // Bob's session, begun before the outage, still gets pages.
  const bobDown = await timed(pb, `${publicUrl}/orders`);
  check("Bob's pages work with Redis down", bobDown.status === 200);
  const outageOver = Date.now();
  const failedOn = ['A', 'B'].filter((k) => /token store .* failed/.test(logs[k].slice(stopMark[k])));
  const oboOutage = (await obo(ALICE)) - oboDown;
  check('with Redis stopped both instances served the new session, each found Redis down and asked the identity provider itself',
    downOn.size === 2 && failedOn.length === 2 && oboOutage >= 2, `served by ${[...downOn]}, Redis failures logged by ${failedOn}, ${oboOutage} exchanges`);
  const downServer = serverTimes(downMark);
  figures.push(`page latency with Redis down (a session new to both instances: each exchanges once, past Redis): in the app median ${median(downServer).toFixed(1)} ms, max ${Math.max(...downServer).toFixed(1)} ms over ${downServer.length} pages; in the browser median ${median(down.map((d) => d.ms)).toFixed(1)} ms`);
  await secondDevice.close();
  await redis.start();
  // After a failure an instance leaves Redis alone for 2 s (RedisStore::RETRY_AFTER), then asks
  // again. Its failures all came while answering one of the requests above, so 2 s after the last
  // of them every instance uses Redis again, however loaded the machine: a deadline that follows
  // from that rule, not a guess.
  const RETRY_AFTER_MS = 2000;
  await sleep(Math.max(0, outageOver + RETRY_AFTER_MS - Date.now()));
  // A fresh sign-in after the restart is cached in Redis again, and the other instance uses it.
  const carol = await browser.newContext();
  const pc = await carol.newPage();
  await signIn(pc, ALICE);
  await pc.waitForSelector('#customers');
  const keys = redis.keys('kinetic:obo:*');
  check('after the restart, tokens are kept in Redis again', keys.length >= 1, String(keys.length));
  const oboRestart = await obo(ALICE);
  for (let i = 0; i < 4; i++) await pc.goto(`${publicUrl}/customers`);
  check('after the restart, the other instance uses the Redis entry (no new exchange)', (await obo(ALICE)) === oboRestart);
  await carol.close();

  // ---- 8. Sign out: here and at the identity provider; the old cookie is refused afterwards.
  console.log('webapp e2e: sign-out');
  const before = (await alice.cookies(publicUrl)).map((c) => `${c.name}=${c.value}`).join('; ');
  await pa.goto(`${publicUrl}/customers`);
  await pa.click('#sign-out');
  await pa.waitForURL(`${publicUrl}/`);
  await shot(pa, 'signed-out', 'back home after signing out here and at the identity provider');
  check('after sign-out the browser is back at the home page', await pa.locator('#sign-in').count() === 1);
  check('the sign-out went through the identity provider', urls.some((u) => u.includes('/oauth2/v2.0/logout')));
  const replay = [];
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${publicUrl}/customers`, { headers: { cookie: before }, redirect: 'manual' });
    replay.push(r.status);
  }
  check('the signed-out session cookie is refused on both instances', replay.every((s) => s === 401), replay.join(','));
  const again = await pa.goto(`${publicUrl}/customers`);
  check('the browser is refused afterwards (sent home)', again.url() === `${publicUrl}/`);

  // ---- 9. state and PKCE: a tampered state is refused; a code cannot be redeemed without the verifier.
  console.log('webapp e2e: state and PKCE');
  const mallory = await browser.newContext();
  const pm = await mallory.newPage();
  // The identity provider's answer is read, not followed: the browser holds the sign-in cookie,
  // and the code stays unredeemed.
  await pm.goto(`${publicUrl}/auth/sign-in`);
  await pm.waitForSelector('#login');
  const action = new URL(await pm.getAttribute('#signin', 'action'), pm.url()).toString();
  const fields = await pm.$$eval('#signin input[type=hidden]', (xs) => Object.fromEntries(xs.map((x) => [x.name, x.value])));
  const answer = await mallory.request.post(action, { form: { ...fields, login: BOB.upn, passwd: BOB.password }, maxRedirects: 0 });
  const callbackUrl = new URL(answer.headers().location, publicUrl);
  const stolen = callbackUrl && callbackUrl.searchParams.get('code');
  check('the identity provider redirected back with a code and the state', Boolean(stolen && callbackUrl.searchParams.get('state')));
  const tamperedUrl = new URL(callbackUrl);
  tamperedUrl.searchParams.set('state', 'tampered');
  await pm.goto(tamperedUrl.toString());
  await pm.waitForSelector('#sign-in-error');
  check('a callback with a tampered state is refused', (await pm.textContent('#sign-in-error')).includes('state'));
  await shot(pm, 'state-refused', 'a sign-in whose state was tampered with: refused');
  const redeem = await fetch(`${authority}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: WEB_APP, client_secret: WEB_SECRET, code: stolen || 'none', redirect_uri: `${publicUrl}/auth/callback` }),
  });
  check('a code redeemed without its PKCE verifier is refused', redeem.status === 400, String(redeem.status));
  await mallory.close();

  // ---- 10. No token in a page, a URL or the logs.
  const jwt = /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/;
  check('no token in any page', !pagesHtml.some((h) => jwt.test(h)), `${pagesHtml.length} pages`);
  check('no token in any URL the browser visited', !urls.some((u) => jwt.test(decodeURIComponent(u))), `${urls.length} URLs`);
  check("no token in the instances' logs", !jwt.test(logs.A) && !jwt.test(logs.B) && !logs.A.includes(WEB_SECRET) && !logs.B.includes(WEB_SECRET), `${logs.A.length + logs.B.length} bytes`);
  check('the logs show the Redis outage', /token store .* failed/.test(logs.A + logs.B));

  const byCredential = (await stats()).tokens_by_client_credential;
  check('tokens went to the app proving itself with its secret (A) and with its certificate (B)', byCredential.secret > 0 && byCredential.certificate > 0, JSON.stringify(byCredential));
  figures.push(`requests served: A ${proxy.served.A}, B ${proxy.served.B}; tokens issued to the app by credential: ${JSON.stringify(byCredential)}`);
  await browser.close();
  proxy.server.close();
  fs.rmSync(work, { recursive: true, force: true });
}

try {
  await main();
} catch (e) {
  failed++;
  console.log(`  FAILED: ${e.stack || e}`);
  for (const [k, v] of Object.entries(logs)) console.log(`--- ${k} (last lines)\n${v.split('\n').slice(-15).join('\n')}`);
} finally {
  for (const c of children) { try { c.kill('SIGTERM'); } catch { /* gone */ } }
}
console.log('webapp e2e: screenshots in ' + OUT + ':');
for (const s of shots) console.log(`  ${s}`);
for (const f of figures) console.log(`webapp e2e figure: ${f}`);
console.log(`webapp e2e: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
