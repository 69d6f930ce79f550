// The monthly cost review as a team lead does it: both environments' estimates side by side with
// Cost Explorer's actual spend, the chart, the assumptions, the line items, and the CSV.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { serverAndBrowser, signIn, signedInAs, screenshots } from './harness.js';

const shared = serverAndBrowser();

/** Cost Explorer's answers, in the order the server asks (per environment: this month so far,
 * unless today is the 1st, then last month). */
async function seedCostExplorer(awsUrl, amounts) {
  const firstOfMonth = new Date().getUTCDate() === 1;
  const result = (amount) => ({ ResultsByTime: [{ TimePeriod: { Start: '2026-01-01', End: '2026-01-31' },
    Total: { UnblendedCost: { Amount: String(amount), Unit: 'USD' } }, Groups: [], Estimated: true }] });
  const results = amounts.flatMap(([monthToDate, lastMonth]) =>
    firstOfMonth ? [result(lastMonth)] : [result(monthToDate), result(lastMonth)]);
  const res = await fetch(awsUrl + '/moto-api/static/ce/cost-and-usage-results', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ results }),
  });
  assert.equal(res.status, 201);
}

test('both environments side by side, with actual spend, a chart and the CSV', async () => {
  await seedCostExplorer(shared.server.awsUrl, [[351.2, 478.35], [226.9, 331.1]]);
  const { page, errors, context } = await signedInAs(shared, 'vikram');
  await page.click('nav >> text=Cost');
  await page.waitForURL(/\/costs$/);
  await page.waitForSelector('body[data-hydrated="true"]');

  for (const env of ['production', 'staging']) {
    const total = await page.locator(`.cost-summary[data-environment="${env}"] [data-total]`).innerText();
    assert.match(total, /^\$\d{3}\.\d\d$/, `${env} has a monthly estimate`);
    const items = page.locator(`.cost-items[data-environment="${env}"] table.line-items`);
    assert.match(await items.locator('tbody[data-category="database"]').innerText(), /Serverless v2 capacity/);
    assert.match(await items.locator('tfoot').innerText(), new RegExp(total.replace('$', '\\$')));
  }
  const prod = await page.locator('.cost-summary[data-environment="production"]').innerText();
  // On the 1st nothing of the month is billed yet (server/tests/costs.rs pins that day).
  assert.match(prod, new Date().getUTCDate() === 1 ? /Month to date\s+No spend yet this month/ : /Month to date\s+\$351\.20/);
  assert.match(prod, /Last month\s+\$478\.35/);
  assert.match(prod, /Cost Explorer, region ap-south-1/);
  assert.match(await page.locator('.cost-summary[data-environment="staging"]').innerText(), /Last month\s+\$331\.10/);

  // The chart draws a bar per environment and category, each labelled with its amount.
  const bars = await page.locator('svg.cost-chart >> nth=0').locator('rect').count();
  assert.ok(bars >= 18, `${bars} bars`);
  assert.match(await page.locator('tr[data-assumption="fargate_spot_share"]').innerText(), /0 %\s+100 %/);
  await page.screenshot({ path: join(screenshots, 'costs.png'), fullPage: true });

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Download CSV')]);
  const csv = readFileSync(await download.path(), 'utf8').split('\r\n').filter(Boolean);
  assert.equal(csv[0], 'environment,region,category,resource,description,quantity,unit,unit_price_usd,monthly_usd,price_key');
  const rows = await page.locator('table.line-items tbody tr:not(.group)').count();
  assert.equal(csv.length - 1, rows, 'a CSV row per line item on the page');
  assert.deepEqual(errors, []);
  await context.close();
});

test('without JavaScript the cost review is all there', async () => {
  const context = await shared.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page, shared.server.url, 'vikram');
  await page.goto(shared.server.url + '/costs');
  assert.match(await page.locator('.cost-summary[data-environment="production"] [data-total]').innerText(), /^\$\d/);
  assert.equal(await page.locator('svg.cost-chart').count(), 2);
  assert.ok(await page.locator('tr[data-assumption]').count() >= 10);
  await context.close();
});
