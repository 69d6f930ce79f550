// Runs on a real infra repository with the real terraform: the environment page lists the
// variables (sensitive ones masked), an operator starts a production apply of a chosen commit
// from the form, the run page shows that commit linked, and the log masks every value. Then the
// state: the environments page shows the applied commit and a lock a laptop left, the state page
// names the run that wrote each version, and an admin releases the lock from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverAndBrowser, signedInAs, screenshots } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const TOKEN = 'cf-Br0wser-Tok3n-91a7c3e5';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrowserBastion77 ops@zelly-bastion';

const git = (repo, ...args) => execFileSync('git', ['-C', repo, ...args], {
  env: { ...process.env, GIT_AUTHOR_NAME: 'Priya Nair', GIT_AUTHOR_EMAIL: 'priya@zelly.example',
         GIT_COMMITTER_NAME: 'Priya Nair', GIT_COMMITTER_EMAIL: 'priya@zelly.example' },
}).toString().trim();

const commitVersion = (repo, version, subject) => {
  writeFileSync(join(repo, 'terraform', 'version.tf'), `locals {\n  code_version = "${version}"\n}\n`);
  git(repo, 'commit', '--quiet', '--all', '--message', subject);
  return git(repo, 'rev-parse', 'HEAD');
};

const shared = serverAndBrowser(async (shared) => {
  const repo = mkdtempSync(join(tmpdir(), 'zelly-infra-'));
  cpSync(join(here, '..', 'fixtures', 'estate'), repo, { recursive: true });
  git(repo, 'init', '--quiet', '--initial-branch=main');
  git(repo, 'add', '--all');
  git(repo, 'commit', '--quiet', '--message', 'The estate as it stands');
  shared.chosen = commitVersion(repo, '2', 'Raise fastify-nova to 2 tasks');
  shared.head = commitVersion(repo, '3', 'Work in progress on the bastion');
  const cliConfig = join(repo, '..', `zelly-browser-${process.pid}.tfrc`);
  writeFileSync(cliConfig, '');
  return {
    ZELLY_TERRAFORM__BIN: 'terraform',
    ZELLY_TERRAFORM__REPO_URL: `file://${repo}`,
    ZELLY_TERRAFORM__COMMIT_URL: 'https://github.com/zelly/infra/commit/{sha}',
    ZELLY_ENVIRONMENTS__PRODUCTION__TERRAFORM__VARIABLES__FASTIFY_NOVA_TASKS: '2',
    // Production applies straight away here: the promotion rule has its own tests.
    ZELLY_ENVIRONMENTS__PRODUCTION__PROMOTE_FROM: '',
    TF_CLI_CONFIG_FILE: cliConfig,
    // The lock is put behind the server's back: every page reads it fresh.
    ZELLY_AWS__REPEAT_READ_SECONDS: '0',
    HOME: process.env.HOME,
  };
}, { stateBackend: true });

/** Puts the production variables secret into the emulator, as a team lead would with the CLI. */
function putVariables(awsUrl) {
  const python = process.env.ZELLY_TEST_PYTHON || join(process.env.HOME, '.cache', 'zelly-venv', 'bin', 'python');
  const script = `import json, sys; sys.path.insert(0, sys.argv[1]); from seed import client
client("secretsmanager", sys.argv[2], "ap-south-1").create_secret(Name="zelly/terraform/production", SecretString=sys.argv[3])`;
  execFileSync(python, ['-c', script, join(here, '..', 'aws'), awsUrl,
    JSON.stringify({ cloudflare_api_token: TOKEN, bastion_ssh_key: KEY })]);
}

test('a production apply of a chosen commit, with its variables masked throughout', async () => {
  const { server, chosen, head } = shared;
  putVariables(server.awsUrl);
  const operator = await signedInAs(shared, 'meera');
  const page = operator.page;
  await page.goto(`${server.url}/environments/production/runs`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const variables = page.locator('section.variables');
  assert.match(await variables.locator('tr[data-variable="fastify_nova_tasks"]').innerText(), /configuration\s+2/);
  assert.match(await variables.locator('tr[data-variable="cloudflare_api_token"]').innerText(), /Secrets Manager \(sensitive\)\s+••••••••/);
  assert.match(await variables.locator('tr[data-variable="bastion_ssh_key"]').innerText(), /••••••••/);
  assert.match(await page.locator('p.source').innerText(), /at the latest commit of main/);
  await page.check('input[name="kind"][value="apply"]');
  await page.fill('input[name="message"]', 'Nova to 2 tasks');
  await page.fill('input[name="ref"]', chosen.slice(0, 10));
  await page.screenshot({ path: join(screenshots, 'runs-variables.png'), fullPage: true });
  await page.click('button:has-text("Start run")');
  await page.waitForURL(/\/runs\/\d+$/);
  const runUrl = page.url();
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.waitForSelector('h1 [data-status="planned"]', { timeout: 60_000 });
  const commit = page.locator('p.commit');
  assert.equal(await commit.getAttribute('data-commit'), chosen, 'the commit asked for, not the head');
  assert.notEqual(chosen, head);
  assert.equal(await commit.locator('a').getAttribute('href'), `https://github.com/zelly/infra/commit/${chosen}`);
  assert.match(await commit.innerText(), new RegExp(`Commit ${chosen.slice(0, 7)} · Raise fastify-nova to 2 tasks · Priya Nair · from ${chosen.slice(0, 10)}`));

  const approver = await signedInAs(shared, 'ravi');
  await approver.page.goto(runUrl);
  await approver.page.click('[data-action="approve"]');
  await approver.page.waitForSelector('h1 [data-status="applied"]', { timeout: 60_000 });
  await page.waitForSelector('h1 [data-status="applied"]', { timeout: 60_000 });
  await page.waitForFunction(() => document.querySelector('.log').innerText.includes('Apply complete!'));
  const log = await page.locator('.log').innerText();
  assert.match(log, /deploying 2 to the bastion \(sensitive value\)/);
  assert.match(log, /cloudflare_token_check = "\(sensitive value\)"/);
  for (const p of [page, approver.page]) {
    const html = await p.content();
    assert.ok(!html.includes(TOKEN) && !html.includes('AAAAC3NzaC1lZDI1NTE5AAAAIBrowserBastion77'), 'no value in the page');
  }
  await page.locator('.log-section').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(screenshots, 'run-real-terraform.png'), fullPage: true });
  assert.deepEqual(operator.errors.concat(approver.errors), []);
  shared.applied = { run: Number(runUrl.match(/(\d+)$/)[1]), commit: chosen };
  await Promise.all([operator.context.close(), approver.context.close()]);
});

/** Holds production's state lock as a crashed `terraform apply` on a laptop would. */
function lockFromLaptop(awsUrl) {
  const python = process.env.ZELLY_TEST_PYTHON || join(process.env.HOME, '.cache', 'zelly-venv', 'bin', 'python');
  const out = execFileSync(python, [join(here, '..', 'aws', 'backend.py'), awsUrl, 'put-lock', 'production/terraform.tfstate', 'priya@laptop']);
  return JSON.parse(out.toString());
}

test('the state: the applied commit, a stale lock shown and released by an admin, and drift found', async () => {
  const { server, applied } = shared;
  assert.ok(applied, 'the apply above ran');
  const lock = lockFromLaptop(server.awsUrl);
  const admin = await signedInAs(shared, 'asha');
  const page = admin.page;
  await page.waitForSelector('body[data-hydrated="true"]');
  const card = page.locator('article[data-env="production"]');
  assert.equal(await card.locator('[data-applied]').getAttribute('data-applied'), applied.commit);
  assert.match(await card.locator('[data-applied]').innerText(), new RegExp(`Applied\\s+${applied.commit.slice(0, 7)} by #${applied.run}`, "i"));
  assert.match(await card.locator('[data-lock]').innerText(), /held by priya@laptop \(Apply/);
  await card.screenshot({ path: join(screenshots, 'environment-card-lock.png') });

  await card.locator('a.lock-held').click();
  await page.waitForURL(`${server.url}/environments/production/state`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const panel = page.locator('section.state-lock');
  assert.equal(await panel.getAttribute('data-lock'), lock.ID);
  assert.match(await panel.innerText(), /Held by\s+priya@laptop/i);
  assert.match(await panel.innerText(), /Outside the control plane/);
  const ours = page.locator(`tr[data-run="${applied.run}"]`);
  assert.match(await ours.innerText(), new RegExp(`run #${applied.run} at ${applied.commit.slice(0, 7)}`));
  assert.equal(await ours.locator(`a[href="https://github.com/zelly/infra/commit/${applied.commit}"]`).count(), 1);
  assert.match(await page.locator('tr[data-version]').first().innerText(), /current/);
  await page.screenshot({ path: join(screenshots, 'state-locked.png'), fullPage: true });

  // Confirming with the wrong name changes nothing; with the environment's name, the lock goes.
  await panel.locator('input[name="confirm"]').fill('staging');
  await panel.locator('button:has-text("Force unlock")').click();
  await page.waitForURL(/\?error=/);
  assert.match(await page.locator('.notice-error').innerText(), /type the environment's name \(production\)/);
  assert.equal(await page.locator('section.state-lock').getAttribute('data-lock'), lock.ID, 'still locked');
  await page.locator('section.state-lock input[name="confirm"]').fill('production');
  await page.locator('section.state-lock button:has-text("Force unlock")').click();
  await page.waitForURL(/\?unlocked=/);
  assert.match(await page.locator('.notice-info').innerText(), new RegExp(`Released the state lock ${lock.ID}`));
  assert.equal(await page.locator('section.state-lock').getAttribute('data-lock'), 'none');
  await page.screenshot({ path: join(screenshots, 'state-unlocked.png'), fullPage: true });

  // Production runs the chosen commit; the branch head is ahead: a drift check finds changes.
  await page.goto(`${server.url}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.locator('article[data-env="production"] [data-drift]').getAttribute('data-drift'), 'unknown');
  await page.locator('article[data-env="production"] [data-drift] button:has-text("check now")').click();
  await page.waitForURL(/\/runs\/\d+$/);
  await page.waitForSelector('h1 [data-status="planned_and_finished"]', { timeout: 60_000 });
  assert.match(await page.locator('.run-page, main').first().innerText(), /Drift check/);
  await page.goto(`${server.url}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const drift = page.locator('article[data-env="production"] [data-drift]');
  assert.equal(await drift.getAttribute('data-drift'), 'drifted');
  assert.match(await drift.innerText(), /\d+ changes? pending since/);
  await page.locator('article[data-env="production"]').screenshot({ path: join(screenshots, 'environment-card-drift.png') });
  assert.deepEqual(admin.errors, []);
  await admin.context.close();
});

test('no value reaches the server log', async () => {
  const output = await shared.server.stop();
  shared.server = null;
  assert.ok(!output.includes(TOKEN) && !output.includes('BrowserBastion77'), 'no value in the server log');
});
