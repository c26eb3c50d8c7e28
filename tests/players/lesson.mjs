#!/usr/bin/env node
// Plays the integrators' lesson page, web/examples/progress-reporter.html (hls.js and the
// progress reporter), in Debian's Chromium for tests/api/training_browser.rs, as a learner
// would: watch a while and close the tab, then come back to a new session and resume.
//
//   node tests/players/lesson.mjs [--page PATH] [--chromium /usr/bin/chromium]
//
// The page is served from 127.0.0.1 on a port of its own, so it is a real origin other than
// Lectern's, like a course site. One browser stays up for the whole run; the test sends one
// command per line of JSON on stdin and reads one answer per line on stdout:
//
//   {"command": "watch", "session": {…}, "seconds": 12}
//     Opens the page with that lesson session (the JSON of POST /v1/lessons/{id}/playback),
//     waits for the page's first periodic report, plays until `seconds` of wall time have
//     passed since playback started, and closes the page as a tab is closed (pagehide runs, so
//     the page's beacon goes out). Answers {"event": "closed", "seq_before_close", …}.
//   {"command": "resume", "session": {…}, "seconds": 3, "screenshot": "PATH"}
//     Opens the page with a new session, waits until it plays after its seek to the resume
//     point, lets it play `seconds`, takes a screenshot and answers {"event": "resumed", …}.
//
// The browser closes at the end of stdin. Any failure answers {"event": "error", "message"}
// and exits 1.

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

import { DEFAULT_CHROMIUM, launchChromium } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SESSION_ELEMENT = /(<script type="application\/json" id="lectern-session">)[\s\S]*?(<\/script>)/;

function parseArgs(argv) {
  const options = { page: path.join(here, '../../web/examples/progress-reporter.html'), chromium: DEFAULT_CHROMIUM };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--page') options.page = argv[++i];
    else if (argv[i] === '--chromium') options.chromium = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return options;
}

// Serves each lesson page at /lesson/N with its session written into it, as a site's backend
// would, and hls.js beside it.
async function startSite(pageFile) {
  const template = await readFile(pageFile, 'utf8');
  if (!SESSION_ELEMENT.test(template)) throw new Error(`${pageFile} has no #lectern-session element`);
  const hls = await readFile(path.join(here, 'node_modules/hls.js/dist/hls.min.js'));
  const pages = [];
  const server = createServer((request, response) => {
    const pathname = new URL(request.url, 'http://local').pathname;
    const lesson = /^\/lesson\/(\d+)$/.exec(pathname);
    if (lesson && pages[Number(lesson[1])] !== undefined) {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      response.end(pages[Number(lesson[1])]);
    } else if (pathname === '/lesson/hls.min.js') {
      response.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' }).end(hls);
    } else if (pathname === '/favicon.ico') {
      response.writeHead(200, { 'Content-Type': 'image/x-icon' }).end();
    } else {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  const add = (session) => {
    const json = JSON.stringify(session).replace(/</g, '\\u003c');
    pages.push(template.replace(SESSION_ELEMENT, (_, open, close) => `${open}${json}${close}`));
    return `${origin}/lesson/${pages.length - 1}`;
  };
  return { server, origin, add };
}

// Runs in the page before its own scripts: records the video's events (media events do not
// bubble, but a capturing listener on the document sees them) with the position and the time.
function installProbe() {
  const probe = { events: [], firstPlayingAt: null, visibility: [] };
  window.lessonProbe = probe;
  for (const type of ['loadedmetadata', 'play', 'playing', 'pause', 'seeking', 'seeked', 'waiting', 'ended']) {
    document.addEventListener(type, (event) => {
      if (!(event.target instanceof HTMLVideoElement)) return;
      const at = performance.now();
      if (type === 'playing' && probe.firstPlayingAt === null) probe.firstPlayingAt = at;
      if (probe.events.length < 200) probe.events.push({ type, position_ms: Math.round(event.target.currentTime * 1000), at_ms: Math.round(at) });
    }, true);
  }
  document.addEventListener('visibilitychange', () => probe.visibility.push(document.visibilityState));
  probe.visibility.push(document.visibilityState);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Opens the page for `session` and follows what it sends to the progress URL, what fails and
// what it logs.
async function openLesson(context, site, session) {
  const page = await context.newPage();
  // The lesson page is a 640x360 video: the screenshot shows it alone.
  await page.setViewportSize({ width: 640, height: 360 });
  const seen = { reports: [], console_errors: [], page_errors: [], http_errors: [] };
  page.on('request', (request) => {
    if (request.method() !== 'POST' || request.url() !== session.progress_url) return;
    let body = null;
    try {
      body = JSON.parse(request.postData() ?? 'null');
    } catch {
      // Recorded as null: the test then sees a report it cannot read.
    }
    seen.reports.push({ seq: body?.seq ?? null, type: request.resourceType(), spans: body?.spans ?? null, position_ms: body?.position_ms ?? null, at: Date.now() });
  });
  page.on('console', (message) => {
    if (message.type() === 'error' && seen.console_errors.length < 20) seen.console_errors.push(message.text());
  });
  page.on('pageerror', (error) => seen.page_errors.push(error.message));
  page.on('response', (response) => {
    if (response.status() >= 400) seen.http_errors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => {
    const reason = request.failure()?.errorText ?? 'failed';
    // hls.js aborts requests on purpose when it seeks.
    if (reason !== 'net::ERR_ABORTED') seen.http_errors.push(`${reason} ${request.method()} ${request.url()}`);
  });
  await page.addInitScript(installProbe);
  await page.goto(site.add(session), { waitUntil: 'load', timeout: 30_000 });
  return { page, seen };
}

async function waitFor(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

const videoState = (page) => page.evaluate(() => {
  const video = document.querySelector('video');
  return {
    position_ms: Math.round(video.currentTime * 1000),
    paused: video.paused,
    seeking: video.seeking,
    ready_state: video.readyState,
    now: performance.now(),
    first_playing_at: window.lessonProbe.firstPlayingAt,
  };
});

async function watch(context, site, { session, seconds }) {
  const { page, seen } = await openLesson(context, site, session);
  await waitFor('playback to start', 30_000, async () => (await videoState(page)).first_playing_at !== null);
  // Close between two periodic reports, so the only report after the last one seen here is the
  // one the page sends as it goes.
  const periodic = await waitFor('the first periodic report', 30_000, async () => seen.reports.find((r) => r.type === 'fetch'));
  let state;
  await waitFor(`${seconds} s of playing`, (seconds + 30) * 1000, async () => {
    state = await videoState(page);
    return state.now - state.first_playing_at >= seconds * 1000;
  });
  const seqBeforeClose = Math.max(...seen.reports.map((r) => r.seq ?? 0));
  const probe = await page.evaluate(() => window.lessonProbe);
  const closed = new Promise((resolve) => page.once('close', resolve));
  await page.close({ runBeforeUnload: true });
  await closed;
  return {
    event: 'closed',
    first_periodic_seq: periodic.seq,
    seq_before_close: seqBeforeClose,
    position_at_close_ms: state.position_ms,
    paused_at_close: state.paused,
    played_wall_ms: Math.round(state.now - state.first_playing_at),
    visibility: probe.visibility,
    events: probe.events,
    ...seen,
  };
}

async function resume(context, site, { session, seconds, screenshot }) {
  const { page, seen } = await openLesson(context, site, session);
  // Resumed: seeked to the resume point, and playing from there.
  const resumed = await waitFor('playback to resume after the seek', 30_000, async () => {
    const state = await videoState(page);
    const probe = await page.evaluate(() => window.lessonProbe.events);
    const seeked = probe.some((e) => e.type === 'seeked');
    return seeked && !state.paused && !state.seeking && state.ready_state >= 3 ? state : null;
  });
  await sleep(seconds * 1000);
  const after = await videoState(page);
  // The pointer over the video brings up its controls, which show the position.
  await page.hover('video');
  await sleep(300);
  await page.screenshot({ path: screenshot });
  const probe = await page.evaluate(() => window.lessonProbe);
  await page.close({ runBeforeUnload: true });
  return {
    event: 'resumed',
    resumed_at_ms: resumed.position_ms,
    position_after_ms: after.position_ms,
    played_wall_ms: Math.round(after.now - resumed.now),
    paused: after.paused,
    screenshot,
    visibility: probe.visibility,
    events: probe.events,
    ...seen,
  };
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const site = await startSite(options.page);
  const browser = await launchChromium(options.chromium);
  const answer = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
  try {
    answer({ event: 'ready', origin: site.origin });
    for await (const line of readline.createInterface({ input: process.stdin })) {
      if (!line.trim()) continue;
      const request = JSON.parse(line);
      if (request.command === 'watch') answer(await watch(browser.context, site, request));
      else if (request.command === 'resume') answer(await resume(browser.context, site, request));
      else throw new Error(`unknown command ${request.command}`);
    }
  } finally {
    await browser.close();
    site.server.close();
    site.server.closeAllConnections();
  }
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ event: 'error', message: error.message })}\n`);
  process.exit(1);
});
