#!/usr/bin/env node
// Drives the web console (web/) in Debian's Chromium for tests/api/console_browser.rs, as its
// people would: the first administrator is created with the setup token, drops a 30 s video,
// watches the upload's progress bar move, waits until the asset is playable and plays it in the
// preview; a second upload loses its connection in the middle and resumes; the instructor builds
// and publishes a course; a learner signs up, enrols, watches a lesson, closes the tab, comes
// back and resumes. Every page is checked with axe-core (no serious or critical violation) and
// photographed at desktop and phone widths.
//
//   node tests/players/console.mjs CONFIG.json
//
// CONFIG: {"url", "setup_token", "video", "big_file", "screenshots", "admin": {email, password},
//          "learner": {email, password}, "watch_seconds"}
// Prints one JSON line per step ({"step": …, …}) and a last {"done": true, …}; exits 1 with
// {"error": …} on the first failure.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchChromium } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const config = JSON.parse(await readFile(process.argv[2], 'utf8'));
const axeSource = await readFile(path.join(here, '../../web/node_modules/axe-core/axe.min.js'), 'utf8');
mkdirSync(config.screenshots, { recursive: true });

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const say = (record) => console.log(JSON.stringify(record));
const url = (p) => new URL(p.replace(/^\//, ''), config.url).href;

// axe-core on the page as it is now: fails on any serious or critical violation.
async function checkAccessibility(page, name) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const run = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return run.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  say({ step: 'axe', page: name, violations: result.length, serious_or_critical: bad.length, minor: result.filter((v) => !bad.includes(v)).map((v) => v.id) });
  if (bad.length > 0) throw new Error(`axe on ${name}: ${JSON.stringify(bad)}`);
}

async function photograph(page, name) {
  for (const [label, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(config.screenshots, `${name}-${label}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

async function look(page, name) {
  await checkAccessibility(page, name);
  await photograph(page, name);
}

// A webhook receiver that refuses (503) until told otherwise, so deliveries fail first and the
// console's "Send again" has something to do.
let receiverAccepts = false;
const received = [];
const receiver = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    received.push({ accepted: receiverAccepts, event: request.headers['webhook-id'] ?? null });
    response.writeHead(receiverAccepts ? 200 : 503).end();
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const receiverUrl = `http://127.0.0.1:${receiver.address().port}/hooks/lectern`;

const { context, close } = await launchChromium();
try {
  const page = await context.newPage();
  await page.setViewportSize(DESKTOP);
  page.on('pageerror', (error) => say({ step: 'page-error', message: error.message }));

  // --- First run ---------------------------------------------------------------------------
  await page.goto(url('/'));
  await page.waitForURL(/\/setup/);
  await page.getByRole('heading', { name: 'Welcome to Lectern' }).waitFor();
  await look(page, 'setup');
  await page.getByLabel('Setup token').fill(config.setup_token);
  await page.getByLabel('Email').fill(config.admin.email);
  await page.getByLabel('Password').fill(config.admin.password);
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await page.waitForURL(/\/studio$/);
  await page.getByRole('heading', { name: 'Media library' }).waitFor();
  say({ step: 'setup', ok: true });

  // --- A webhook, before anything happens, so the upload's events are delivered to it -------
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
  await page.getByLabel('Receiver URL').fill(receiverUrl);
  await page.getByLabel('Events (empty: all)').fill('asset.uploaded, asset.ready');
  await page.getByRole('button', { name: 'Add webhook' }).click();
  const hookSecret = await page.getByTestId('webhook-secret').inputValue();
  if (!hookSecret.startsWith('whsec_')) throw new Error(`the webhook's secret is ${hookSecret}`);
  await page.getByTestId('webhook').filter({ hasText: 'No delivery yet.' }).waitFor();
  await page.getByRole('link', { name: 'Media library' }).click();
  await page.getByRole('heading', { name: 'Media library' }).waitFor();

  // --- Upload a video: the progress bar moves, the asset becomes playable, the preview plays -
  const seen = new Set();
  const watchBar = setInterval(async () => {
    const value = await page.locator('[data-testid=upload] [role=progressbar]').first().getAttribute('aria-valuenow').catch(() => null);
    if (value !== null) seen.add(Number(value));
  }, 50);
  // Slow the PATCHes a little so the bar has in-between values to show on loopback.
  await page.route('**/v1/uploads/tus/**', async (route) => {
    if (route.request().method() === 'PATCH') await new Promise((resolve) => setTimeout(resolve, 300));
    await route.continue();
  });
  await page.locator('input[type=file]').setInputFiles(config.video);
  await page.locator('[data-testid=upload]', { hasText: 'Uploaded' }).waitFor({ timeout: 120_000 });
  clearInterval(watchBar);
  await page.unroute('**/v1/uploads/tus/**');
  const values = [...seen].sort((a, b) => a - b);
  say({ step: 'upload', progress_values: values });
  if (!values.includes(100) || values.filter((v) => v > 0 && v < 100).length === 0) {
    throw new Error(`the progress bar did not move through intermediate values: ${values}`);
  }
  const asset = page.locator('[data-testid=asset]').first();
  await asset.locator('[data-playable=true]').waitFor({ timeout: 240_000 });
  say({ step: 'playable', status: await asset.locator('[data-status]').getAttribute('data-status') });
  await look(page, 'library');
  await asset.getByRole('button', { name: 'Preview' }).click();
  const preview = page.getByTestId('preview-video');
  await preview.waitFor();
  await preview.evaluate((video) => video.play());
  await page.waitForFunction(() => {
    const video = document.querySelector('[data-testid=preview-video]');
    return video && video.currentTime > 1.5 && video.videoWidth > 0;
  }, null, { timeout: 60_000 });
  say({ step: 'preview', played_seconds: await preview.evaluate((video) => video.currentTime) });
  await look(page, 'library-preview');

  // --- A connection cut in the middle of an upload, then resumed --------------------------
  const requests = [];
  let cut = false;
  await page.route('**/v1/uploads/tus/**', async (route) => {
    const request = route.request();
    requests.push({ method: request.method(), offset: request.headers()['upload-offset'] ?? null });
    // The second PATCH (the first chunk is in) fails as a dropped connection would.
    if (request.method() === 'PATCH' && request.headers()['upload-offset'] !== '0' && !cut) {
      cut = true;
      await route.abort('connectionreset');
      return;
    }
    // Loopback is fast: slow the PATCHes so the Pause click lands while one is on its way.
    if (request.method() === 'PATCH') await new Promise((resolve) => setTimeout(resolve, 400));
    await route.continue();
  });
  await page.locator('input[type=file]').setInputFiles(config.big_file);
  const bigName = path.basename(config.big_file);
  // Pause: no request goes out while paused; Resume carries on.
  const bigRow = page.locator('[data-testid=upload]', { hasText: bigName });
  // Paused while the first chunk's PATCH is on its way (it is held back 400 ms).
  await page.waitForRequest((request) => request.method() === 'PATCH' && request.url().includes('/v1/uploads/tus/'));
  await bigRow.getByRole('button', { name: 'Pause' }).click();
  await bigRow.getByRole('button', { name: 'Resume' }).waitFor();
  await page.waitForTimeout(300);
  const whilePaused = requests.length;
  await page.waitForTimeout(1500);
  if (requests.length !== whilePaused) throw new Error(`requests went out while paused: ${JSON.stringify(requests)}`);
  await bigRow.getByRole('button', { name: 'Resume' }).click();
  say({ step: 'paused-and-resumed', requests_before_resume: whilePaused });
  await page.locator('[data-testid=upload]', { hasText: bigName }).filter({ hasText: 'Uploaded' }).waitFor({ timeout: 120_000 });
  await page.unroute('**/v1/uploads/tus/**');
  say({ step: 'resumed-upload', cut, requests });
  const afterCut = requests.slice(requests.findIndex((r) => r.method === 'PATCH' && r.offset !== '0') + 1);
  if (!cut || !afterCut.some((r) => r.method === 'HEAD') || !afterCut.some((r) => r.method === 'PATCH' && Number(r.offset) > 0)) {
    throw new Error(`the upload did not resume from its offset after the cut: ${JSON.stringify(requests)}`);
  }

  // --- A page reload in the middle of an upload: the same file picked again resumes -------
  const reloadRequests = [];
  const trackReload = async (route) => {
    const request = route.request();
    reloadRequests.push({ method: request.method(), offset: request.headers()['upload-offset'] ?? null });
    if (request.method() === 'PATCH') await new Promise((resolve) => setTimeout(resolve, 400));
    await route.continue();
  };
  await page.route('**/v1/uploads/tus/**', trackReload);
  await page.locator('input[type=file]').setInputFiles(config.reload_file);
  await page.waitForResponse((response) => response.request().method() === 'PATCH' && response.status() === 204);
  await page.reload();
  await page.getByRole('heading', { name: 'Media library' }).waitFor();
  const beforeReload = reloadRequests.length;
  await page.route('**/v1/uploads/tus/**', trackReload);
  await page.locator('input[type=file]').setInputFiles(config.reload_file);
  await page.locator('[data-testid=upload]', { hasText: path.basename(config.reload_file) }).filter({ hasText: 'Uploaded' }).waitFor({ timeout: 120_000 });
  await page.unroute('**/v1/uploads/tus/**');
  const afterReload = reloadRequests.slice(beforeReload);
  say({ step: 'reload-resumed', before: reloadRequests.slice(0, beforeReload), after: afterReload });
  if (afterReload.some((r) => r.method === 'PATCH' && r.offset === '0') || !afterReload.some((r) => r.method === 'PATCH' && Number(r.offset) > 0)) {
    throw new Error(`after the reload the upload started over instead of resuming: ${JSON.stringify(afterReload)}`);
  }

  // --- Build and publish a course --------------------------------------------------------
  await page.getByRole('link', { name: 'Courses' }).click();
  await page.getByRole('heading', { name: 'Courses', level: 1 }).waitFor();
  await page.getByLabel('Title').fill('Calculus I');
  await page.getByLabel('Description').fill('Limits, derivatives and integrals.');
  await page.getByRole('button', { name: 'Create course' }).click();
  await page.waitForURL(/\/studio\/courses\/[0-9a-f-]+$/);
  await page.getByLabel('Section title').fill('Limits');
  await page.getByRole('button', { name: 'Add section' }).click();
  await page.getByRole('heading', { name: 'Limits' }).waitFor();
  const videoTitle = (await asset.locator('.asset-title').textContent().catch(() => null)) ?? undefined;
  await page.getByLabel('Video').selectOption({ index: 1 });
  await page.getByLabel('Lesson title').fill('What a limit is');
  await page.getByRole('button', { name: 'Add lesson from the library' }).click();
  await page.getByTestId('editor-lesson').filter({ hasText: 'What a limit is' }).waitFor();
  await page.getByLabel('Video').selectOption({ index: 1 });
  await page.getByLabel('Lesson title').fill('One-sided limits');
  await page.getByRole('button', { name: 'Add lesson from the library' }).click();
  await page.getByTestId('editor-lesson').filter({ hasText: 'One-sided limits' }).waitFor();
  // Reorder by keyboard: focus "Move up" of the second lesson and press Enter.
  await page.getByRole('button', { name: 'Move up: One-sided limits' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-testid=editor-lesson] span')?.textContent === 'One-sided limits');
  await page.getByRole('button', { name: 'Move down: One-sided limits' }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid=editor-lesson] span')?.textContent === 'What a limit is');
  await look(page, 'course-editor');
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.getByText('Published — learners can find it in the catalogue.').first().waitFor();
  say({ step: 'course-published', video: videoTitle });

  // --- An API key: created with its scopes, shown once, listed, revoked --------------------
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
  await page.getByLabel('Name').fill('course site');
  await page.getByLabel('courses:read').check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = await page.getByTestId('api-key-secret').inputValue();
  if (!secret.startsWith('lk_')) throw new Error(`the new key's secret is ${secret}`);
  await page.getByTestId('api-key').filter({ hasText: 'course site' }).waitFor();
  await look(page, 'api-keys');
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByRole('button', { name: 'Revoke: course site' }).click();
  await page.getByTestId('api-key').filter({ hasText: 'Revoked' }).waitFor();
  say({ step: 'api-key', prefix: secret.slice(0, 8) });

  // --- The webhook's deliveries failed (the receiver refused); send one again -------------
  receiverAccepts = true;
  await page.getByRole('link', { name: 'Webhooks' }).click();
  const failed = page.getByRole('row').filter({ hasText: 'asset.uploaded' }).filter({ hasText: 'HTTP 503' });
  for (let i = 0; i < 60 && (await failed.count()) === 0; i += 1) {
    await page.waitForTimeout(1000);
    await page.reload();
  }
  await failed.first().waitFor();
  await look(page, 'webhooks');
  await page.getByRole('button', { name: 'Send again: asset.uploaded' }).first().click();
  await page.getByRole('row').filter({ hasText: 'asset.uploaded' }).filter({ hasText: 'HTTP 200' }).first().waitFor({ timeout: 30_000 });
  say({ step: 'webhook-retried', received });

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/sign-in$/);
  await look(page, 'sign-in');

  // --- A learner signs up, enrols and watches --------------------------------------------
  await page.getByRole('link', { name: 'Create account' }).click();
  await page.getByLabel('Email').fill(config.learner.email);
  await page.getByLabel('Password').fill(config.learner.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Catalogue' }).waitFor();
  await page.getByRole('link', { name: 'Calculus I' }).waitFor();
  await look(page, 'catalogue');
  await page.getByRole('link', { name: 'Calculus I' }).click();
  await page.getByRole('button', { name: 'Enrol for free' }).click();
  await page.getByText('You are enrolled.').waitFor();
  await look(page, 'course');
  await page.getByRole('button', { name: /^(Start the course|Continue where I left off)$/ }).click();
  await page.waitForURL(/\/learn\//);
  const lessonVideo = page.locator('video.lesson-video');
  await page.waitForFunction(() => document.querySelector('video.lesson-video')?.readyState >= 2, null, { timeout: 60_000 });
  await lessonVideo.evaluate((video) => {
    video.muted = true;
    return video.play();
  });
  const started = Date.now();
  await page.waitForFunction((seconds) => document.querySelector('video.lesson-video').currentTime >= seconds, config.watch_seconds, {
    timeout: (config.watch_seconds + 60) * 1000,
  });
  await look(page, 'player');
  const closedAt = await lessonVideo.evaluate((video) => video.currentTime);
  // Closing the tab: pagehide fires, the page's beacon carries the last stretch.
  await page.close({ runBeforeUnload: true });
  say({ step: 'watched', closed_at_seconds: closedAt, wall_seconds: (Date.now() - started) / 1000 });

  // --- Back in a new tab: sign in again, "My learning", continue where I left off ---------
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const back = await context.newPage();
  await back.setViewportSize(DESKTOP);
  await back.goto(url('/my'));
  await back.getByLabel('Email').fill(config.learner.email);
  await back.getByLabel('Password').fill(config.learner.password);
  await back.getByRole('button', { name: 'Sign in' }).click();
  await back.getByRole('heading', { name: 'My learning' }).waitFor();
  await back.getByRole('link', { name: 'Continue where I left off' }).waitFor();
  await look(back, 'my-learning');
  await back.getByRole('link', { name: 'Continue where I left off' }).click();
  await back.waitForURL(/\/learn\//);
  await back.waitForFunction(() => document.querySelector('video.lesson-video')?.dataset.resumeMs !== undefined, null, { timeout: 30_000 });
  await back.waitForFunction(() => document.querySelector('video.lesson-video')?.readyState >= 1, null, { timeout: 60_000 });
  await back.waitForTimeout(500);
  const resume = await back.locator('video.lesson-video').evaluate((video) => ({ resume_ms: Number(video.dataset.resumeMs), current: video.currentTime }));
  say({ step: 'resumed', closed_at_seconds: closedAt, ...resume });
  await photograph(back, 'player-resumed');

  // --- Russian ----------------------------------------------------------------------------
  await back.getByLabel('Language').selectOption('ru');
  await back.getByRole('link', { name: 'Моё обучение' }).click();
  await back.getByRole('heading', { name: 'Моё обучение' }).waitFor();
  await look(back, 'my-learning-ru');
  const lang = await back.evaluate(() => document.documentElement.lang);
  if (lang !== 'ru') throw new Error(`<html lang> is ${lang} after switching to Russian`);
  say({ done: true, closed_at_seconds: closedAt, resume_ms: resume.resume_ms, current_seconds: resume.current });
} catch (error) {
  receiver.close();
  say({ error: error.message ?? String(error) });
  // What the page looked like when it failed, for the person reading the test's output.
  for (const open of context.pages()) {
    const buttons = await open.getByRole('button').evaluateAll((all) => all.map((b) => b.textContent)).catch(() => []);
    say({ page_at_failure: open.url(), buttons });
    await open.screenshot({ path: path.join(config.screenshots, 'failure.png'), fullPage: true }).catch(() => {});
  }
  await close();
  process.exit(1);
}
await close();
receiver.close();
