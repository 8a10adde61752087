// The admin UI in a real browser: Debian's Chromium driven by playwright-core, against a real
// Switchyard on loopback. Without Chromium every test here is skipped, with a printed notice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import type { Browser, Page } from 'playwright-core';
import { packageUiAssets } from '../../src/http/ui/ui-assets.js';
import { startUiServer, UI_ADMIN_KEY, type UiServer } from '../helpers/ui-server.js';
import { startGgufHost } from '../helpers/gguf-host.js';

// Code inside page.evaluate() runs in the browser; the root tsconfig has no DOM types.
declare const document: any;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.resolve('test-output', 'screenshots');
// Flags that keep Chromium off the network and quiet on a machine with no way out.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

let skipReason: string | false = false;
if (!existsSync(CHROMIUM)) skipReason = `Chromium is not at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

let server: UiServer;
let ggufHost: Awaited<ReturnType<typeof startGgufHost>>;
let browser: Browser;
let page: Page;

before(async () => {
  if (skipReason) return;
  const built = await packageUiAssets().ensureBuilt((line) => console.log(`# ${line}`));
  if (!built) {
    skipReason = 'the admin UI could not be built (npm run build)';
    return;
  }
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  // A slow sandbox, so that a streamed reply visibly arrives piece by piece.
  ggufHost = await startGgufHost();
  server = await startUiServer({
    providers: [
      { id: 'sandbox', kind: 'sandbox', chunkDelayMs: 60 },
      // No models: it only gives pulls a cache of the test's own.
      { id: 'local', kind: 'llama', modelCacheDir: mkdtempSync(path.join(tmpdir(), 'switchyard-e2e-cache-')), models: [] },
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  mkdirSync(SHOTS, { recursive: true });
});
if (skipReason) console.log(`# NOTICE: browser tests skipped: ${skipReason}`);

after(async () => {
  await browser?.close();
  await server?.close();
  await ggufHost?.close();
});

const e2e = (name: string, fn: () => Promise<void>) =>
  test(name, async (context) => {
    if (skipReason) {
      console.log(`# NOTICE: skipped "${name}": ${skipReason}`);
      context.skip(skipReason);
      return;
    }
    await fn();
  });

const shot = (name: string, target: Page = page) => target.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
const go = async (route: string) => {
  await page.goto(`${server.origin}/ui/#/${route}`);
  await page.locator('#page-title').waitFor();
};
const hello = (content: string) => ({ model: 'sandbox/echo', messages: [{ role: 'user' as const, content }] });

let secret = '';
let auditId = '';

e2e('sign in with the admin key (a wrong key is refused)', async () => {
  await page.goto(`${server.origin}/ui/`);
  // The form is ready to type into, and the tab says what it is.
  await page.waitForFunction(() => document.activeElement?.id === 'admin-key', undefined, { timeout: 5000 });
  assert.equal(await page.title(), 'Sign in · Switchyard admin');
  await page.getByLabel('Admin key').fill('sk_admin_not_it');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not the admin key' }).waitFor();
  await shot('00-sign-in-refused');
  await page.getByLabel('Admin key').fill(UI_ADMIN_KEY);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  // The session survives a reload (the cookie), and the key itself is nowhere in the page.
  await page.reload();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  assert.ok(!(await page.content()).includes(UI_ADMIN_KEY));
  const cookies = await page.context().cookies();
  const session = cookies.find((cookie) => cookie.name === 'switchyard_session');
  assert.ok(session);
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
});

e2e('create a key (secret shown once, with a copy button) and use it through the openai SDK', async () => {
  await go('keys');
  await page.getByRole('button', { name: 'Create key' }).first().click();
  const form = page.locator('#create-key');
  await form.getByLabel('Name').fill('e2e');
  await form.getByLabel('Allowed models').fill('sandbox/*');
  await form.getByLabel('Expires').selectOption({ label: '30 days' });
  await shot('01-keys-create-form');
  await form.getByRole('button', { name: 'Create key' }).click();
  const value = page.locator('#secret-value');
  await value.waitFor();
  secret = await value.inputValue();
  assert.match(secret, /^sk_live_[A-Za-z0-9]{44}$/);
  await page.getByRole('button', { name: 'Copy' }).waitFor();
  const row = page.locator('tr', { hasText: 'e2e' });
  await row.getByText('active').waitFor();
  await row.getByText('live', { exact: true }).waitFor();
  await shot('02-keys-secret-once');
  await page.getByRole('button', { name: 'Done, I have stored it' }).click();
  assert.equal(await page.locator('#secret-value').count(), 0);

  const { data, response } = await server.client(secret).chat.completions.create(hello('from the SDK')).withResponse();
  assert.equal(data.choices[0]!.message.content, 'from the SDK');
  auditId = response.headers.get('x-switchyard-audit-id')!;
  assert.match(auditId, /^aud_/);
});

e2e('the request appears in Requests, opening its audit record, and in the Overview counts', async () => {
  await go('requests');
  const link = page.locator(`a[href="#/requests/${auditId}"]`);
  for (let tries = 0; tries < 50 && (await link.count()) === 0; tries++) {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForTimeout(100);
  }
  await page.getByLabel('API key').selectOption({ label: await page.getByLabel('API key').locator('option', { hasText: 'e2e' }).innerText() });
  await link.click();
  const audit = page.locator('section.audit');
  await audit.getByText(auditId).waitFor();
  await audit.getByText('sandbox/echo').first().waitFor();
  await audit.getByText('completed').waitFor();
  await shot('03-requests-audit');

  await go('overview');
  await page.locator('[data-stat=requests]', { hasText: /^1$/ }).waitFor();
  assert.notEqual(await page.locator('[data-stat=tokens]').innerText(), '0');
  await page.locator('.chart canvas').first().waitFor();
  assert.equal(await page.locator('.chart').count(), 3);
  await page.locator('table', { hasText: 'sandbox/echo' }).waitFor();
  await shot('04-overview');
  await page.getByRole('button', { name: 'Last 30 days' }).click();
  await page.locator('[data-stat=requests]', { hasText: /^1$/ }).waitFor();
  await shot('05-overview-30-days');

  // New traffic shows with the Refresh button, without reloading the page.
  await server.client(secret).chat.completions.create(hello('one more'));
  const two = page.locator('[data-stat=requests]', { hasText: /^2$/ });
  for (let tries = 0; tries < 50 && (await two.count()) === 0; tries++) {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForTimeout(100);
  }
  await two.waitFor({ timeout: 1000 });
  await page.locator('table', { hasText: 'e2e' }).locator('tr', { hasText: 'e2e' }).locator('td.num').first().filter({ hasText: /^2$/ }).waitFor();
});

e2e('requests: the log pages past its first hundred, older and back to newer', async () => {
  // 130 older records (two days ago: outside the Overview's hour and today's tables).
  const at = Date.now() - 2 * 86_400_000;
  const day = new Date(at).toISOString().slice(0, 10);
  await server.platform.store.usage.insertBatch(
    Array.from({ length: 130 }, (_, index) => ({
      audit_id: `aud_paging${String(index).padStart(4, '0')}`,
      request_id: `req_paging${index}`,
      created_at: at + index,
      day,
      key_id: null,
      workspace_id: null,
      sandboxed: 0,
      model_asked: 'sandbox/lorem',
      route: 'sandbox/lorem',
      provider_id: 'sandbox',
      stream: 0,
      prompt_tokens: 1,
      completion_tokens: 1,
      reasoning_tokens: 0,
      cached_tokens: 0,
      cost_usd: 0,
      latency_ms: 1,
      ttft_ms: null,
      status: 'completed',
      error_code: null,
    })),
  );
  await go('requests');
  const rows = page.locator('table.requests tbody tr');
  const pageLabel = page.getByTestId('requests-page');
  await pageLabel.filter({ hasText: 'Page 1 · requests 1–100' }).waitFor();
  assert.equal(await rows.count(), 100);
  assert.equal(await page.getByRole('button', { name: 'Newer' }).isDisabled(), true);
  // A row far down the list opens its record above the list: it is scrolled to, and focused.
  await rows.nth(90).getByRole('link').click();
  await page.locator('section.audit dd', { hasText: /^aud_/ }).waitFor();
  await page.waitForFunction(() => document.activeElement?.id === 'audit-title', undefined, { timeout: 2000 });
  const box = await page.locator('section.audit').boundingBox();
  assert.ok(box && box.y > -2 && box.y < 900, `the audit record should be in view; its top is at ${box?.y}`);
  await page.getByRole('link', { name: 'Close' }).click();
  await page.getByRole('button', { name: 'Older' }).click();
  await pageLabel.filter({ hasText: /^Page 2 · requests 101–13\d$/ }).waitFor();
  // The oldest of all is on the last page, and there is nothing older.
  await page.locator('a[href="#/requests/aud_paging0000"]').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Older' }).isDisabled(), true);
  await shot('03b-requests-page-2');
  await page.getByRole('button', { name: 'Newer' }).click();
  await pageLabel.filter({ hasText: 'Page 1 · requests 1–100' }).waitFor();
  await page.locator(`a[href="#/requests/${auditId}"]`).waitFor();
  // A filter starts again at the newest page.
  await page.getByRole('button', { name: 'Older' }).click();
  await pageLabel.filter({ hasText: /^Page 2/ }).waitFor();
  await page.getByLabel('Status').selectOption('completed');
  await pageLabel.filter({ hasText: /^Page 1/ }).waitFor();
  await page.getByLabel('Status').selectOption('');
});

e2e('rotate: the new secret is shown once with the old one\'s grace deadline; the old key still works', async () => {
  await go('keys');
  await page.getByRole('button', { name: 'Rotate e2e' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel(/Grace period/).fill('3600');
  await shot('06-keys-rotate-dialog');
  await dialog.getByRole('button', { name: 'Rotate key' }).click();
  const rotated = await page.locator('#secret-value').inputValue();
  assert.match(rotated, /^sk_live_/);
  assert.notEqual(rotated, secret);
  await page.getByTestId('grace-deadline').getByText(/in (59|60) min/).waitFor();
  await shot('07-keys-rotated');
  await page.getByRole('button', { name: 'Done, I have stored it' }).click();
  await page.locator('tr', { hasText: 'rotated' }).waitFor();

  const old = await server.client(secret).chat.completions.create(hello('old key, in grace'));
  assert.equal(old.choices[0]!.message.content, 'old key, in grace');
  const fresh = await server.client(rotated).chat.completions.create(hello('new key'));
  assert.equal(fresh.choices[0]!.message.content, 'new key');
  secret = rotated;
});

e2e('revoke, after a confirmation: the key gets 401', async () => {
  await go('keys');
  // The rotated key (in grace) and its successor share the name: pick the successor's row.
  const row = page.locator('tr', { hasText: secret.slice(0, 14) });
  await row.getByRole('button', { name: 'Revoke e2e' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('cannot be undone').waitFor();
  await shot('08-keys-revoke-confirm');
  // Cancel first: nothing happens.
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  await server.client(secret).chat.completions.create(hello('still fine'));
  await row.getByRole('button', { name: 'Revoke e2e' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
  await row.getByText('revoked').waitFor();
  await shot('09-keys-revoked');
  await assert.rejects(server.client(secret).chat.completions.create(hello('revoked')), (error: unknown) => error instanceof OpenAI.AuthenticationError);
});

e2e('workspaces & tiers: limits and the month\'s budget as a bar; models & routes with circuit state', async () => {
  await server.admin('POST', '/workspaces', { name: 'Free team', tier: 'free' });
  await go('workspaces');
  await page.getByText('Free team', { exact: true }).waitFor();
  const bar = page.getByRole('progressbar', { name: 'Budget used by Free team' });
  assert.equal(await bar.getAttribute('aria-valuemax'), '2000000');
  await shot('10-workspaces');

  await go('models');
  const fast = page.locator('tr', { hasText: 'fast' }).first();
  await fast.getByText('circuit closed').first().waitFor();
  await page.locator('td', { hasText: 'sandbox/echo' }).first().waitFor();
  await shot('11-models-routes');
});

e2e('playground: a streamed reply renders as it arrives; reasoning folded; tool calls shown; code to copy', async () => {
  await go('playground');
  await page.getByLabel('Model or alias').selectOption('sandbox/echo');
  await page.getByLabel(/Ask for reasoning/).check();
  const words = Array.from({ length: 24 }, (_, index) => `word${index}`).join(' ');
  await page.getByLabel('Message', { exact: true }).fill(words);
  await page.getByRole('button', { name: 'Send' }).click();
  const reply = page.getByTestId('reply');
  const seen = new Set<number>();
  let midShot = false;
  const started = Date.now();
  while (Date.now() - started < 20_000) {
    const busy = await page.locator('li.message-assistant[aria-busy=true]').count();
    const text = (await reply.innerText().catch(() => '')).replace('▍', '').trim();
    if (text.length > 0 && busy) {
      seen.add(text.length);
      if (!midShot && text.length > words.length / 3) {
        midShot = true;
        await shot('12-playground-streaming');
      }
    }
    if (!busy && text === words) break;
    await page.waitForTimeout(25);
  }
  assert.equal((await reply.innerText()).trim(), words);
  assert.ok(seen.size >= 4, `the reply should grow in steps while streaming; saw ${seen.size} partial lengths`);
  const reasoning = page.locator('details.reasoning');
  assert.equal(await reasoning.getAttribute('open'), null);
  await reasoning.locator('summary').click();
  await reasoning.getByText('I will answer as the echo model').waitFor();
  await page.getByText('finish_reason: stop').waitFor();
  await shot('13-playground-done');

  // A tool call, shown as it is made.
  await page.getByLabel(/Ask for reasoning/).uncheck();
  await page.getByLabel(/Offer a tool/).check();
  await page.getByLabel('Message', { exact: true }).fill('What does get_weather say for Paris?');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('.tool-call', { hasText: 'get_weather' }).waitFor();
  await page.getByText('finish_reason: tool_calls').waitFor();
  await page.getByRole('button', { name: 'Python' }).click();
  const code = await page.locator('.code pre').innerText();
  assert.match(code, /from openai import OpenAI/);
  assert.ok(code.includes(`${server.origin}/v1`));
  assert.match(code, /get_weather/);
  await page.getByRole('button', { name: 'curl', exact: true }).click();
  assert.match(await page.locator('.code pre').innerText(), /curl .*\/v1\/chat\/completions/);
  await shot('14-playground-tool-call');
  // Python's True/False/None are for values: a message that says "true" or "null" keeps its words.
  await page.getByLabel('Message', { exact: true }).fill('Is it true, false or null?');
  await page.getByRole('button', { name: 'Python' }).click();
  const python = await page.locator('.code pre').innerText();
  assert.ok(python.includes('"content": "Is it true, false or null?"'), python);
  assert.match(python, /"stream": True\b/);
  await page.getByLabel('Message', { exact: true }).fill('');
});

e2e('models: pull a GGUF with the pull button, its progress bar moving to completion', async () => {
  await go('models');
  await page.getByLabel('GGUF to download').fill(ggufHost.url);
  await page.getByRole('button', { name: 'Pull', exact: true }).click();
  const status = page.getByTestId('pull-status');
  // Seen mid-way: a percentage under 100 with the bytes so far, the speed and the ETA.
  await status.filter({ hasText: /\d+% · [\d.]+ MB of [\d.]+ MB · [\d.]+ MB\/s · ETA \d+ s/ }).waitFor({ timeout: 15_000 });
  await shot('11b-models-pulling');
  await status.filter({ hasText: /^Done: 1\.9 MB saved to / }).waitFor({ timeout: 30_000 });
  assert.equal(await page.locator('#pull-bar').getAttribute('value'), '100');
  await shot('11c-models-pulled');
});

e2e('playground: "New conversation" mid-stream stops the reply, which does not come back', async () => {
  await go('playground');
  await page.getByLabel('Model or alias').selectOption('sandbox/echo');
  const words = Array.from({ length: 30 }, (_, index) => `w${index}`).join(' ');
  await page.getByLabel('Message', { exact: true }).fill(words);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByTestId('reply').filter({ hasText: /w2\b/ }).waitFor();
  await page.getByRole('button', { name: 'New conversation' }).click();
  // Longer than the rest of the stream would take (30 words at 60 ms).
  await page.waitForTimeout(2500);
  assert.equal(await page.locator('ol.messages li').count(), 0);
  await page.getByText('Replies stream in here as they arrive.').waitFor();
  assert.doesNotMatch(await page.locator('.code pre').innerText(), /w29/);
});

e2e('playground: an uploaded image goes with the message, shown as a thumbnail, elided in the code', async () => {
  await go('playground');
  await page.getByRole('button', { name: 'New conversation' }).click();
  await page.getByLabel('Model or alias').selectOption('sandbox/echo');
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
  await page.getByLabel('Images').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: png });
  await page.getByRole('img', { name: 'dot.png' }).waitFor();
  await page.getByLabel('Message', { exact: true }).fill('What is in this picture?');
  assert.match(await page.getByLabel('curl code').innerText(), /data:image\/png;base64,…\(0 KB of base64\)/);
  await page.getByRole('button', { name: 'Send' }).click();
  // The echo model describes the images it received: the bytes arrived.
  await page.getByTestId('reply').filter({ hasText: `image/png ${png.length} bytes` }).waitFor({ timeout: 15_000 });
  await page.getByRole('list', { name: 'Images sent' }).getByRole('img').waitFor();
  await shot('14b-playground-image');
});

e2e('playground: a request refused before any reply says why and gives the message back to retry', async () => {
  const persona = (await server.admin('POST', '/personas', { name: 'Soon gone', base_model: 'sandbox/echo', system_prompt: 'Be brief.' })).body;
  await go('overview');
  await go('playground');
  await page.locator('#pg-model option', { hasText: 'Soon gone' }).waitFor({ state: 'attached' });
  await page.getByLabel('Model or alias').selectOption(persona.model);
  // Deleted after the page listed it: the call is a 404.
  assert.equal((await server.admin('DELETE', `/personas/${persona.id}`)).status, 200);
  await page.getByLabel('Message', { exact: true }).fill('are you there?');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('alert').filter({ hasText: persona.id }).waitFor();
  assert.equal(await page.getByLabel('Message', { exact: true }).inputValue(), 'are you there?');
  assert.equal(await page.locator('ol.messages li').count(), 0);
  await shot('14c-playground-refused');
});

e2e('personas: create one, test it side by side with its base model, see its drift score', async () => {
  await go('personas');
  await page.getByRole('button', { name: 'New persona' }).click();
  await page.getByLabel('Name').fill('Echo pirate');
  await page.getByLabel('Base model').fill('sandbox/echo');
  await page.getByLabel('System prompt').fill('Talk like a pirate.');
  await page.getByLabel('Forbidden phrases').fill('landlubber\nahoy');
  await page.getByLabel('When a reply drifts').selectOption('regenerate');
  // The lock sits beside its text, not above it.
  const lock = await page.getByLabel(/Locked/).boundingBox();
  const lockText = await page.getByText('Locked (the client cannot change it)').boundingBox();
  assert.ok(lock && lockText && lock.x < lockText.x && Math.abs(lock.y + lock.height / 2 - (lockText.y + lockText.height / 2)) < 6, 'the lock checkbox should sit beside its text');
  // The API's refusal shows next to the field it is about, which gets the focus.
  await page.getByLabel('Base model').fill('nope/not-a-model');
  await page.getByRole('button', { name: 'Create persona' }).click();
  const baseError = page.locator('#persona-base-error');
  await baseError.filter({ hasText: "no model, alias or provider prefix named 'nope/not-a-model'" }).waitFor();
  assert.equal(await page.getByLabel('Base model').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Base model').getAttribute('aria-describedby'), 'persona-base-error');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'persona-base');
  await shot('07a-personas-field-error');
  await page.getByLabel('Base model').fill('sandbox/echo');
  await page.getByRole('button', { name: 'Create persona' }).click();
  const row = page.getByRole('row').filter({ hasText: 'Echo pirate' });
  await row.waitFor();
  assert.match(await row.innerText(), /persona:\/\/persona_/);
  assert.match(await row.innerText(), /2 forbidden phrases/);

  // The echo model repeats the message: two forbidden phrases in it drift it past the threshold.
  await page.getByLabel('Message').fill('Ahoy there, landlubber!');
  await page.getByRole('button', { name: 'Send to both' }).click();
  await page.getByTestId('persona-reply').waitFor();
  assert.match(await page.getByTestId('persona-reply').innerText(), /Ahoy there, landlubber!/);
  assert.match(await page.getByTestId('base-reply').innerText(), /Ahoy there, landlubber!/);
  const heading = await page.getByRole('heading', { name: /Echo pirate/, level: 3 }).innerText();
  assert.match(heading, /drift 1 · alert/);
  assert.match(await page.locator('section').filter({ hasText: 'Layers:' }).first().innerText(), /persona-prompt, provider:sandbox, recovery:regenerate/);
  await shot('07-personas');
});

e2e('narrow screen: pages stay usable at phone width', async () => {
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
  try {
    await phone.context().addCookies(await page.context().cookies());
    for (const [route, name] of [['overview', '15-narrow-overview'], ['keys', '16-narrow-keys'], ['requests', '17-narrow-requests'], ['playground', '18-narrow-playground'], ['personas', '19-narrow-personas']] as const) {
      await phone.goto(`${server.origin}/ui/#/${route}`);
      await phone.locator('#page-title').waitFor();
      await phone.waitForTimeout(300);
      // Nothing wider than the screen but the scrollable tables and nav.
      await shot(name, phone);
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 1, `${route} overflows the screen by ${overflow}px`);
    }
  } finally {
    await phone.close();
  }
});

e2e('keyboard: the navigation and the page heading are reachable without a mouse', async () => {
  await go('overview');
  // Focus lands on the page's heading; the header (skip link, pages, sign out) comes before it.
  // (Waited for: from another page this is a hash change, and the focus moves on the next frame.)
  await page.waitForFunction(() => document.activeElement?.id === 'page-title' && document.activeElement.textContent === 'Overview', undefined, { timeout: 5000 });
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Sign out');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Playground');
  await page.getByRole('link', { name: /API keys/ }).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'page-title' && document.activeElement.textContent === 'API keys');
});

e2e('a session that ends while the playground is open goes back to sign-in', async () => {
  await go('playground');
  // The page's own loads done (the models listed), so that only the send meets the ended session.
  await page.locator('#pg-model option', { hasText: 'sandbox/echo' }).first().waitFor({ state: 'attached' });
  await page.waitForTimeout(200);
  const cookies = await page.context().cookies();
  await page.context().clearCookies();
  await page.getByLabel('Message', { exact: true }).fill('after the session ended');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByLabel('Admin key').waitFor({ timeout: 5000 });
  await page.waitForFunction(() => document.activeElement?.id === 'admin-key', undefined, { timeout: 2000 });
  assert.equal(await page.title(), 'Sign in · Switchyard admin');
  await page.context().addCookies(cookies);
});
