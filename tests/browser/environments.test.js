// The environments page as a team lead sees it: sign in, both environments side by side,
// differing rows marked, hydrated (live) with JavaScript, complete without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serverAndBrowser, signIn, consoleErrors, screenshots } from './harness.js';

const shared = serverAndBrowser();

test('sign in and see production and staging side by side, hydrated', async () => {
  const context = await shared.browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors = consoleErrors(page);
  const { server } = shared;

  await page.goto(server.url + '/');
  assert.match(page.url(), /\/login\?next=/, 'anonymous visitors are sent to sign in');
  await page.screenshot({ path: join(screenshots, 'login.png') });
  await signIn(page, server.url, 'asha');

  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
  const cards = page.locator('.env-card');
  assert.equal(await cards.count(), 2);
  assert.match(await cards.nth(0).innerText(), /Production[\s\S]*ap-south-1/);
  assert.match(await cards.nth(1).innerText(), /Staging[\s\S]*ap-southeast-1/);

  const vpc = page.locator('tr', { has: page.locator('th', { hasText: /^VPC CIDRdiffers$/ }) });
  assert.equal(await vpc.getAttribute('data-differs'), 'true');
  assert.deepEqual(await vpc.locator('td').allInnerTexts(), ['10.0.0.0/16', '10.1.0.0/16']);
  const lock = page.locator('tr', { has: page.locator('th', { hasText: /^State lock table$/ }) });
  assert.equal(await lock.getAttribute('data-differs'), 'false');
  assert.match(await page.locator('.who').innerText(), /Asha Rao/);
  // Live ECS status from the (emulated) AWS of each region.
  assert.match(await page.locator('.env-card.env-production .live-summary').innerText(), /Healthy[\s\S]*6\/6 tasks running/);
  assert.match(await page.locator('.env-card.env-staging .live-summary').innerText(), /Degraded/);
  assert.match(await page.locator('#live tr[data-service="storefront"]').innerText(), /1\/1 running[\s\S]*1\/2 running/);
  // Metrics: SVG charts drawn by the app, both environments on one scale, latest values as text.
  const charts = page.locator('#metrics figure.chart');
  assert.equal(await charts.count(), 24, '12 panels for each of the 2 environments');
  assert.ok(await page.locator('#metrics polyline').count() >= 40);
  assert.equal(await page.locator('#metrics figure[data-empty="true"]').count(), 0, 'every chart has data');
  assert.match(await page.locator('#metrics .chart-title[data-panel="ecs_cpu"] + figure .legend').innerText(), /fastify-nova\s+\d+(\.\d+)?%/);
  await page.locator('#metrics').screenshot({ path: join(screenshots, 'metrics.png') });
  await page.screenshot({ path: join(screenshots, 'environments.png'), fullPage: true });
  // With JavaScript the live panels refresh themselves (every aws.cache_ttl_seconds: 2 s here).
  const firstAsOf = await page.locator('.env-card.env-production .freshness').innerText();
  await page.waitForFunction((before) => document.querySelector('.env-card.env-production .freshness').innerText !== before, firstAsOf, { timeout: 20_000 });
  await page.evaluate(() => { window.__beforeRange = true; });
  await page.click('#metrics a:has-text("1h")');
  await page.waitForURL(/range=1h/);
  await page.waitForSelector('#metrics a.active:has-text("1h")');
  assert.equal(await page.evaluate(() => window.__beforeRange), true, 'the range changed without a reload');
  await page.goto(server.url + '/');
  await page.waitForSelector('body[data-hydrated="true"]');

  // Live: after hydration the filter switches in place, without loading a new document.
  await page.evaluate(() => { window.__sameDocument = true; });
  const allRows = await page.locator('tbody tr').count();
  await page.click('a:has-text("Only differences")');
  await page.waitForURL(/view=differences/);
  await page.waitForFunction((n) => document.querySelectorAll('tbody tr').length < n, allRows);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no full page load');
  assert.equal(await page.locator('tr[data-differs="false"]').count(), 0);
  await page.screenshot({ path: join(screenshots, 'environments-differences.png'), fullPage: true });
  // Back swaps the rows in again, still in the same document.
  await page.goBack();
  await page.waitForFunction((n) => document.querySelectorAll('tbody tr').length === n, allRows);
  assert.doesNotMatch(page.url(), /view=differences/);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'back without a page load');

  assert.deepEqual(errors, [], 'no errors in the browser console');
  // A refresh that is answered by another page (here: sign-in, the session gone) loads that
  // page as a whole instead of swapping parts of it into this one.
  await context.clearCookies();
  await page.waitForURL(/\/login\?next=/, { timeout: 20_000 });
  assert.equal(await page.locator('.env-card').count(), 0);
  await context.close();
});

test('the page and its filter work without JavaScript', async () => {
  const context = await shared.browser.newContext({ javaScriptEnabled: false, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await signIn(page, shared.server.url, 'vikram');
  assert.equal(await page.locator('body[data-hydrated]').count(), 0, 'no script ran');
  assert.equal(await page.locator('.env-card').count(), 2);
  assert.ok(await page.locator('tr[data-differs="false"]').count() > 0);
  await page.click('a:has-text("Only differences")');
  await page.waitForURL(/view=differences/);
  assert.equal(await page.locator('tr[data-differs="false"]').count(), 0);
  assert.ok(await page.locator('tr[data-differs="true"]').count() > 5);
  await context.close();
});
