// An admin checks a webhook destination: sends a test from the notifications page and watches
// the delivery fail once (the receiver answers 500), be retried with the same delivery id, and
// arrive, without reloading the page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverAndBrowser, signedInAs, screenshots } from './harness.js';

// The receiver: records every request; answers 500 to the first, 200 to the rest.
const received = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    received.push({ headers: req.headers, body });
    res.writeHead(received.length === 1 ? 500 : 200, { 'content-type': 'text/plain' });
    res.end(received.length === 1 ? 'not now' : 'ok');
  });
});
after(() => receiver.close());

const shared = serverAndBrowser(async () => {
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(join(tmpdir(), 'zelly-notify-'));
  const file = join(dir, 'zelly.toml');
  writeFileSync(file, `[notifications]
poll_seconds = 0.2
retry_first_seconds = 1

[[notifications.destinations]]
name = "ops-hook"
kind = "webhook"
url = "http://127.0.0.1:${receiver.address().port}/zelly"
signing_key = "browser-test-signing-key"
events = ["run.needs_approval", "run.applied", "test"]
environments = ["production"]
`);
  return { ZELLY_CONFIG: file };
});

test('an admin sends a test notification and watches it be retried and delivered', async () => {
  const ravi = await signedInAs(shared, 'ravi');
  assert.equal(await ravi.page.locator('nav >> text=Notifications').count(), 0, 'only admins see notifications');
  await ravi.context.close();

  const { page, errors, context } = await signedInAs(shared, 'asha');
  await page.click('nav >> text=Notifications');
  await page.waitForURL(/\/notifications$/);
  await page.waitForSelector('body[data-hydrated="true"]');
  const card = page.locator('[data-destination="ops-hook"]');
  assert.match(await card.innerText(), /webhook[\s\S]*signed[\s\S]*http:\/\/127\.0\.0\.1:\d+[\s\S]*run\.needs_approval, run\.applied, test[\s\S]*production[\s\S]*Last delivered: never/);
  assert.doesNotMatch(await page.content(), /\/zelly"|browser-test-signing-key/, 'neither the path nor the key is on the page');

  await page.click('[data-send-test="ops-hook"]');
  await page.waitForURL(/\/notifications\?sent=ops-hook$/);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.match(await page.locator('.notice-ok').innerText(), /test notification to ops-hook is on its way/);
  // Live: the failed attempt and then the delivery appear without a reload.
  await page.waitForSelector('tr[data-status="delivered"]', { timeout: 30_000 });
  const row = await page.locator('tr[data-status="delivered"]').innerText();
  assert.match(row, /ops-hook\s+test\s+—\s+delivered[\s\S]*\b2\b[\s\S]*HTTP 200/);
  await page.waitForFunction(() => !document.querySelector('[data-last-delivered]').textContent.includes('never'), null, { timeout: 15_000 });
  await page.screenshot({ path: join(screenshots, 'notifications.png'), fullPage: true });

  assert.equal(received.length, 2, 'one failed attempt, one delivery');
  assert.equal(received[0].headers['x-zelly-delivery'], received[1].headers['x-zelly-delivery'], 'the same delivery id');
  assert.equal(received[1].headers['x-zelly-event'], 'test');
  assert.match(received[1].headers['x-zelly-signature'], /^sha256=[0-9a-f]{64}$/);
  assert.equal(JSON.parse(received[1].body).test.destination, 'ops-hook');

  // Filtering by status is a plain GET form.
  await page.selectOption('select[name="status"]', 'failed');
  await page.click('button:has-text("Filter")');
  await page.waitForURL(/\/notifications\?destination=&event=&status=failed/);
  await page.waitForSelector('td.empty');
  assert.deepEqual(errors, []);
  await context.close();
});
