// An admin reviews the audit log: finds it in the navigation, filters it with the form, and the
// filter stays in the address (and in the CSV link).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, signedInAs } from './harness.js';

const shared = serverAndBrowser();

test('an admin filters the audit log by actor and action', async () => {
  // Two people sign in: each sign-in is an event.
  const ravi = await signedInAs(shared, 'ravi');
  assert.equal(await ravi.page.locator('nav >> text=Audit').count(), 0, 'only admins see the audit log');
  await ravi.context.close();
  const { page, errors, context } = await signedInAs(shared, 'asha');
  await page.click('nav >> text=Audit');
  await page.waitForURL(/\/audit$/);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.ok(await page.locator('tr[data-action="auth.signed_in"]').count() >= 2);

  await page.fill('input[name="actor"]', 'ravi');
  await page.fill('input[name="action"]', 'auth.');
  await page.click('button:has-text("Filter")');
  await page.waitForURL(/\/audit\?actor=ravi/);
  await page.waitForSelector('table.audit');
  const rows = await page.locator('table.audit tbody tr').allInnerTexts();
  assert.ok(rows.length >= 1);
  for (const row of rows) assert.match(row, /ravi[\s\S]*auth\./);
  // The form shows the filter it answered.
  assert.equal(await page.inputValue('input[name="actor"]'), 'ravi');
  assert.equal(await page.inputValue('input[name="action"]'), 'auth.');
  assert.match(await page.locator('[data-export]').getAttribute('href'), /^\/api\/v1\/audit\.csv\?actor=ravi&action=auth\.$/);
  assert.deepEqual(errors, []);
  await context.close();
});
