// Secrets as a team lead uses them: compare both environments, reveal one value, rotate a
// staging key, redeploy the service that reads it and watch the rollout; a production edit
// goes through a confirmation that names the keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serverAndBrowser, signIn, signedInAs, screenshots } from './harness.js';

const shared = serverAndBrowser();

const signedIn = (name) => signedInAs(shared, name);

test('rotate a staging key, redeploy its consumer, follow the rollout', async () => {
  const { page, errors, context } = await signedIn('meera');
  await page.click('nav >> text=Secrets');
  await page.waitForURL(/\/secrets$/);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.locator('[data-environment="production"] tr[data-secret]').count(), 5);
  assert.equal(await page.locator('[data-environment="staging"] tr[data-secret]').count(), 5);
  assert.match(await page.locator('.parity').innerText(), /same keys/);
  await page.screenshot({ path: join(screenshots, 'secrets.png'), fullPage: true });

  await page.click('[data-environment="staging"] a:has-text("zelly/redis/auth")');
  await page.waitForURL(/\/environments\/staging\/secrets\/zelly\/redis\/auth$/);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.match(await page.locator('tr[data-key="REDIS_PASSWORD"]').innerText(), /••••••••/);
  assert.doesNotMatch(await page.content(), /seeded-staging/, 'values stay masked');

  // With JavaScript, a reveal shows the value in place, without leaving the page.
  await page.evaluate(() => { window.__samePage = true; });
  const answer = page.waitForResponse((r) => r.url().includes('/app/reveal_secret_value'));
  await page.click('[data-reveal="REDIS_PASSWORD"]');
  await page.waitForSelector('[data-revealed="REDIS_PASSWORD"]');
  assert.equal((await answer).headers()['cache-control'], 'no-store', 'no cache keeps the value');
  assert.equal(await page.locator('[data-revealed="REDIS_PASSWORD"]').innerText(), 'seeded-staging-zelly-redis-auth-redis_password');
  assert.equal(await page.evaluate(() => window.__samePage), true);
  await page.click('tr[data-key="REDIS_PASSWORD"] button:has-text("Hide")');
  assert.equal(await page.locator('[data-revealed]').count(), 0);

  await page.check('input[name="rotate"][value="REDIS_PASSWORD"]');
  await page.screenshot({ path: join(screenshots, 'secret-rotate.png'), fullPage: true });
  await page.click('button:has-text("Rotate selected keys")');
  await page.waitForURL(/\?saved=/);
  const saved = await page.locator('.notice-ok').innerText();
  assert.match(saved, /Changed: REDIS_PASSWORD\./);
  assert.match(saved, /Redeploy fastify-nova, events-consumer, internal_tools/);
  assert.equal(await page.locator('tr[data-version] .stage-awsprevious').count(), 1, 'the old version is AWSPREVIOUS');

  await page.click('li[data-consumer="events-consumer"] button:has-text("Redeploy")');
  await page.waitForURL(/\?redeployed=events-consumer$/);
  await page.waitForSelector('li[data-rollout="events-consumer"]');
  await page.waitForSelector('.rollout-list[data-settled="true"]', { timeout: 30_000 });
  assert.match(await page.locator('li[data-rollout="events-consumer"]').innerText(), /events-consumer/);
  await page.screenshot({ path: join(screenshots, 'secret-redeployed.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a production edit is confirmed by key name before it is written', async () => {
  const { page, errors, context } = await signedIn('ravi');
  await page.goto(shared.server.url + '/environments/production/secrets/zelly/orion-backend/env');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="set.CORS_ORIGINS"]', 'https://app.zelly.example');
  await page.click('button:has-text("Review changes")');
  await page.waitForURL(/\?confirm=/);
  const confirm = await page.locator('.confirm').innerText();
  assert.match(confirm, /Confirm: write to Production/);
  assert.match(confirm, /Change CORS_ORIGINS/);
  assert.doesNotMatch(await page.content(), /app\.zelly\.example/, 'the new value is not sent back');
  await page.screenshot({ path: join(screenshots, 'secret-confirm.png'), fullPage: true });
  await page.click('.confirm button:has-text("Write to Production")');
  await page.waitForURL(/\?saved=/);
  assert.match(await page.locator('.notice-ok').innerText(), /Changed: CORS_ORIGINS\./);
  assert.deepEqual(errors, []);
  await context.close();
});

test('without JavaScript the reveal is a page of its own', async () => {
  const context = await shared.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, shared.server.url, 'meera');
  await page.goto(shared.server.url + '/environments/staging/secrets/zelly/aurora/master');
  await page.click('[data-reveal="DB_USER"]');
  await page.waitForSelector('pre[data-revealed="DB_USER"]');
  assert.equal(await page.locator('pre.revealed-value').innerText(), 'seeded-staging-zelly-aurora-master-db_user');
  await page.click('text=Hide and go back');
  await page.waitForURL(/zelly\/aurora\/master$/);
  assert.equal(await page.locator('[data-revealed]').count(), 0);
  await context.close();
});
