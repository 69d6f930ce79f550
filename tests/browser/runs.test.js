// A Terraform run as a team uses it: an operator starts a production apply, watches the plan
// arrive live, a second person approves it, and everyone sees it applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serverAndBrowser, signIn, signedInAs, screenshots } from './harness.js';

const shared = serverAndBrowser();

const signedIn = (name) => signedInAs(shared, name);

test('plan, approval by a second user, apply: live', async () => {
  const { server } = shared;
  const operator = await signedIn('meera');
  const page = operator.page;
  await page.click('.env-card.env-production a:has-text("Runs")');
  await page.waitForURL(/\/environments\/production\/runs$/);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.check('input[name="kind"][value="apply"]');
  await page.fill('input[name="message"]', 'Scale fastify-nova to 2 tasks and add the 5xx alarm');
  await page.screenshot({ path: join(screenshots, 'runs-new.png'), fullPage: true });
  await page.click('button:has-text("Start run")');
  await page.waitForURL(/\/runs\/\d+$/);
  const runUrl = page.url();

  // The page follows the run live: no reload between planning and "needs approval".
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.waitForSelector('h1 [data-status="planned"]', { timeout: 30_000 });
  await page.waitForFunction(() => document.querySelector('.log').innerText.includes('Plan: 1 to add, 2 to change, 0 to destroy.'));
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'updated without a reload');
  // Colors are spans, not escape codes.
  assert.ok(await page.locator('.log .ansi-bold').count() > 0);
  assert.ok(!(await page.locator('.log').innerText()).includes('\u001b['));
  // An operator may not approve production: no button, and the reason is given.
  assert.equal(await page.locator('[data-action="approve"]').count(), 0);
  const actions = await page.locator('.actions').innerText();
  assert.match(actions, /1 approval by someone other than meera/);
  assert.match(actions, /You cannot approve: approving Production runs needs the approver role/);
  // The approval view says what the plan costs: one more fastify-nova task (1 vCPU, 2 GB) for
  // 730 hours at Mumbai's Fargate prices; the new alarm is not in the catalog.
  assert.match(actions, /Monthly cost: \+\$37\.89\/month · 1 resource not priced/);
  assert.match(await page.locator('.plan-cost tr[data-address="aws_ecs_service.fastify_nova"]').innerText(), /1 task[\s\S]*2 tasks[\s\S]*\+\$37\.89/);
  assert.match(await page.locator('.plan-cost .unpriced').innerText(), /aws_cloudwatch_metric_alarm\.nova_5xx/);
  await page.reload();
  await page.waitForSelector('.plan-diff');
  await page.click('details.resource:has-text("aws_secretsmanager_secret_version.nova_env") summary');
  assert.match(await page.locator('details[open]').innerText(), /\(sensitive\)/);
  assert.doesNotMatch(await page.content(), /JWT_SECRET\\":\\"(old|new)/, 'sensitive values never reach the page');
  await page.screenshot({ path: join(screenshots, 'run-planned.png'), fullPage: true });

  const approver = await signedIn('ravi');
  await approver.page.goto(runUrl);
  await approver.page.fill('input[name="comment"] >> nth=0', 'Checked with the on-call');
  await approver.page.click('[data-action="approve"]');
  await approver.page.waitForURL(runUrl);
  await approver.page.waitForSelector('h1 [data-status="applied"]', { timeout: 30_000 });
  await approver.page.waitForFunction(() => document.querySelector('.log').innerText.includes('Apply complete!'));
  assert.match(await approver.page.locator('.approvals').innerText(), /ravi approved[\s\S]*Checked with the on-call/);
  await approver.page.screenshot({ path: join(screenshots, 'run-applied.png'), fullPage: true });

  // The operator's page saw the apply happen, live.
  await page.waitForSelector('h1 [data-status="applied"]', { timeout: 30_000 });

  await page.goto(server.url + '/');
  assert.match(await page.locator('.env-card.env-production .activity').innerText(), /Applied/);
  await page.screenshot({ path: join(screenshots, 'environments-after-run.png') });
  assert.deepEqual([...operator.errors, ...approver.errors], [], 'no errors in the browser console');
  await operator.context.close();
  await approver.context.close();
});

test('without JavaScript: start, confirm and see a staging run through plain forms', async () => {
  const { server } = shared;
  const context = await shared.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, server.url, 'meera');
  await page.goto(server.url + '/environments/staging/runs');
  await page.check('input[name="kind"][value="apply"]');
  await page.click('button:has-text("Start run")');
  await page.waitForURL(/\/runs\/\d+$/);
  // The page refreshes itself while the run is active.
  await page.waitForSelector('h1 [data-status="planned"]', { timeout: 30_000 });
  await page.click('[data-action="approve"]');
  await page.waitForSelector('h1 [data-status="applied"]', { timeout: 30_000 });
  assert.match(await page.locator('.log').innerText(), /Apply complete!/);
  await context.close();
});
