// Single sign-on through a real OpenID Connect provider: a team lead signs in with the company
// account, lands on the environments page with the role their group maps to, and signs out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, screenshots } from './harness.js';
import { startIdentityProvider, freePort, client } from './identity-provider.js';

const shared = {};

before(async () => {
  const port = await freePort();
  const zelly = `http://127.0.0.1:${port}`;
  shared.idp = await startIdentityProvider(`${zelly}/auth/callback`);
  const config = join(mkdtempSync(join(tmpdir(), 'zelly-sso-')), 'zelly.toml');
  writeFileSync(config, `
[server]
public_url = "${zelly}"

[auth]
mode = "oidc"
# Every test signs in from this one address, more often than a person would.
login_attempts_per_minute = 100

[auth.oidc]
issuer_url = "${shared.idp.issuer}"
client_id = "${client.id}"
provider_name = "Zelly Test IdP"

[[auth.oidc.roles]]
role = "admin"
groups = ["platform-admins"]

[[auth.oidc.roles]]
role = "operator"
domains = ["zelly.example"]
`);
  shared.server = await startServer(
    { ZELLY_CONFIG: config, ZELLY_AUTH__OIDC__CLIENT_SECRET: client.secret },
    { listen: `127.0.0.1:${port}` },
  );
  shared.browser = await launchBrowser();
});

after(async () => {
  await shared.browser?.close();
  const output = await shared.server?.stop();
  await shared.idp?.stop();
  assert.ok(output !== undefined && !output.includes(client.secret), 'the client secret never reaches the log');
});

/** Signs in as `login` at the provider's own form; resolves to the callback URL it came back to. */
async function signInAtProvider(page, login) {
  let callback;
  page.on('request', (r) => { if (r.url().includes('/auth/callback?')) callback = r.url(); });
  await page.goto(shared.server.url + '/costs');
  await page.waitForURL(/\/login\?next=%2Fcosts$/);
  await page.click('text=Sign in with Zelly Test IdP');
  await page.waitForURL((u) => u.toString().startsWith(shared.idp.issuer));
  const loginForm = page.url();
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any password');
  await page.click('button[type="submit"]');
  // The provider then asks once to share the account with Zelly.
  await page.waitForURL((u) => u.toString() !== loginForm);
  if (page.url().startsWith(shared.idp.issuer)) await page.click('button[type="submit"]');
  await page.waitForURL((u) => u.toString().startsWith(shared.server.url));
  return callback;
}

test('a team lead signs in with the identity provider and lands where they were going', async () => {
  const context = await shared.browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  // Zelly's pages must be clean; the provider's own pages are not ours to judge.
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && m.location().url.startsWith(shared.server.url)) errors.push(m.text()); });
  const callback = await signInAtProvider(page, 'asha');
  await page.waitForURL(shared.server.url + '/costs');
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.match(await page.locator('header').innerText(), /Asha Rao[\s\S]*admin/, 'named, with the role of her group');
  await page.click('nav >> text=Environments');
  await page.waitForURL(shared.server.url + '/');
  await page.locator('main').getByText('ap-southeast-1').first().waitFor();
  assert.match(await page.locator('main').innerText(), /production[\s\S]*staging/i);

  assert.deepEqual(errors, []);

  // The provider's answer works once: replaying it is refused and changes nothing.
  const replay = await page.goto(callback);
  assert.equal(replay.status(), 400);
  errors.length = 0; // the browser reports the refusal's status as a console error
  assert.match(await page.locator('[role="alert"]').innerText(), /already used or has expired/);
  const still = await page.goto(shared.server.url + '/');
  assert.equal(still.status(), 200, 'still signed in');

  // Signing out is a form post carrying the CSRF token.
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.click('button:has-text("Sign out")');
  await page.waitForURL(/\/login$/);
  assert.equal((await page.goto(shared.server.url + '/')).url(), shared.server.url + '/login?next=%2F');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the role comes from the e-mail domain, and someone with no rule is refused', async () => {
  const context = await shared.browser.newContext();
  const page = await context.newPage();
  await signInAtProvider(page, 'meera');
  await page.waitForURL(shared.server.url + '/costs');
  assert.match(await page.locator('header').innerText(), /Meera Iyer[\s\S]*operator/);
  await context.close();

  const guestContext = await shared.browser.newContext();
  const guest = await guestContext.newPage();
  await signInAtProvider(guest, 'guest');
  assert.match(guest.url(), /\/auth\/callback\?/);
  assert.match(await guest.locator('[role="alert"]').innerText(), /guest@elsewhere\.example has no access to Zelly/);
  assert.equal((await guest.goto(shared.server.url + '/')).url(), shared.server.url + '/login?next=%2F', 'not signed in');
  await guestContext.close();
});

test('an address the provider did not verify, or another account claiming a known one, is not let in', async () => {
  for (const [login, refusal] of [
    ['ravi', /has not verified the e-mail address ravi@zelly\.example/],
    // Asha signed in before: her Zelly user is bound to her account at the provider.
    ['impostor', /The Zelly user asha@zelly\.example belongs to another account/],
  ]) {
    const context = await shared.browser.newContext();
    const page = await context.newPage();
    await signInAtProvider(page, login);
    assert.match(page.url(), /\/auth\/callback\?/);
    assert.match(await page.locator('[role="alert"]').innerText(), refusal);
    assert.equal((await page.goto(shared.server.url + '/')).url(), shared.server.url + '/login?next=%2F', `${login} is not signed in`);
    await context.close();
  }
});

test('an admin disables someone on the users page: they cannot sign in until enabled again', async () => {
  const admin = await shared.browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await admin.newPage();
  await signInAtProvider(page, 'asha');
  await page.goto(shared.server.url + '/users');
  await page.waitForSelector('body[data-hydrated="true"]');
  const meera = page.locator('tr[data-user="meera@zelly.example"]');
  await meera.locator('input[name="reason"]').fill('moved to another team');
  await meera.locator('button[data-disable]').click();
  await page.waitForURL(/\/users\?done=/);
  assert.match(await page.locator('[role="status"]').innerText(), /Disabled meera@zelly\.example/);
  assert.match(await page.locator('tr[data-user="meera@zelly.example"]').innerText(), /disabled[\s\S]*moved to another team/);
  await page.screenshot({ path: join(screenshots, 'users-disabled.png'), fullPage: true });

  const theirs = await shared.browser.newContext();
  const meeraPage = await theirs.newPage();
  await signInAtProvider(meeraPage, 'meera');
  assert.match(await meeraPage.locator('[role="alert"]').innerText(), /meera@zelly\.example is disabled/);
  await theirs.close();

  await page.locator('tr[data-user="meera@zelly.example"] button[data-enable]').click();
  await page.waitForURL(/\/users\?done=/);
  const again = await shared.browser.newContext();
  const back = await again.newPage();
  await signInAtProvider(back, 'meera');
  await back.waitForURL(shared.server.url + '/costs');
  await again.close();
  await admin.close();
});
