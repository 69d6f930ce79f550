// Shared by the browser tests: start the real zelly-control binary on a free port with a fresh
// SQLite database, and launch Debian's Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, existsSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const screenshots = join(here, 'screenshots');
mkdirSync(screenshots, { recursive: true });

const targetDir = process.env.CARGO_TARGET_DIR || join(here, '..', '..', 'target');
const binary = process.env.ZELLY_BIN || join(targetDir, 'debug', 'zelly-control');

/** Starts the seeded AWS emulator of tests/aws (with terraform's state backend when asked);
 * resolves to { url, stop }. */
async function startEmulator({ stateBackend = false } = {}) {
  const python = process.env.ZELLY_TEST_PYTHON || join(process.env.HOME, '.cache', 'zelly-venv', 'bin', 'python');
  const args = [join(here, '..', 'aws', 'emulator.py'), '--seed', ...(stateBackend ? ['--state-backend'] : [])];
  const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/AWS emulator at (\S+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`the AWS emulator exited with ${code}`)));
  });
  return { url, stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }) };
}

/** Starts `zelly-control serve` (with the AWS emulator) and resolves to { url, awsUrl, stop } once it
 * prints its address. `listen` is a free port unless the test must know it beforehand. */
export async function startServer(extraEnv = {}, { listen = '127.0.0.1:0', stateBackend = false } = {}) {
  const aws = await startEmulator({ stateBackend });
  if (!existsSync(binary)) throw new Error(`${binary} not found: build it with \`scripts/build-site && cargo build\` first`);
  const dataDir = mkdtempSync(join(tmpdir(), 'zelly-browser-'));
  // Terraform runs use the fake terraform on a private copy of the fixture infra repository.
  const fixtures = join(here, '..', 'fixtures');
  cpSync(join(fixtures, 'infra'), join(dataDir, 'infra'), { recursive: true });
  // Run from the data directory: the binary must find its assets on its own, not via the cwd.
  const child = spawn(binary, ['serve', '--listen', listen], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      ZELLY_DATA_DIR: dataDir,
      RUST_LOG: 'info',
      ZELLY_TERRAFORM__BIN: join(fixtures, 'fake-terraform'),
      ZELLY_TERRAFORM__INFRA_DIR: join(dataDir, 'infra'),
      ZELLY_AWS__ENDPOINT_URL: aws.url,
      // Short, so the tests can see the dashboard refresh itself.
      ZELLY_AWS__CACHE_TTL_SECONDS: '2',
      AWS_ACCESS_KEY_ID: 'emulator',
      AWS_SECRET_ACCESS_KEY: 'emulator',
      AWS_EC2_METADATA_DISABLED: 'true',
      // scripts/test runs the suite a second time on a fresh PostgreSQL schema.
      ...(process.env.ZELLY_BROWSER_DATABASE_URL ? { DATABASE_URL: process.env.ZELLY_BROWSER_DATABASE_URL } : {}),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Everything the server prints is kept: the tests check no secret value ever shows up in it.
  let output = '';
  child.stderr.on('data', (chunk) => { output += chunk; process.stderr.write(chunk); });
  const url = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      output += line + '\n';
      const m = line.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
  return {
    url,
    awsUrl: aws.url,
    stop: async () => {
      await new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); });
      await aws.stop();
      return output;
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** For a test file: a server and a browser before its tests, both stopped after them.
 * `setup` (optional) runs first and returns more environment for the server; `options` are
 * startServer's. */
export function serverAndBrowser(setup = async () => ({}), options = {}) {
  const shared = {};
  before(async () => {
    shared.server = await startServer(await setup(shared), options);
    shared.browser = await launchBrowser();
  });
  after(async () => {
    await shared.browser?.close();
    const output = await shared.server?.stop();
    // The seed's values (tests/aws/seed.py) look like seeded-<env>-…: none may reach the log.
    if (output && /seeded-(production|staging)-/.test(output)) {
      throw new Error('a seeded secret value reached the server log');
    }
  });
  return shared;
}

/** Signs in through the development sign-in form and waits for the environments page. */
export async function signIn(page, url, name) {
  await page.goto(url + '/login');
  await page.click(`button[data-user="${name}"]`);
  await page.waitForURL(url + '/');
}

/** Collects page errors and console errors: a clean page has none. */
export function consoleErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return errors;
}

/** A fresh browser context signed in as `name`: { context, page, errors }. */
export async function signedInAs(shared, name) {
  const context = await shared.browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = consoleErrors(page);
  await signIn(page, shared.server.url, name);
  return { context, page, errors };
}
