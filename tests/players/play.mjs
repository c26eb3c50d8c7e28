#!/usr/bin/env node
// Plays an HLS or DASH manifest in a real browser player (hls.js, dash.js or Shaka) inside
// Debian's Chromium, and checks that it plays: playback advances, and every video rendition,
// forced one at a time, is fetched and shown. Exits 0 only when everything passed.
//
//   node tests/players/play.mjs --player hls|dash|shaka --url URL [--timeout 60] [--json]
//                               [--full] [--expect-renditions N] [--verbose]
//                               [--chromium /usr/bin/chromium]
//
// --full plays every rendition to the end instead of for one second, so that every segment of
// every rendition is fetched and decoded (slower: real time, once per rendition). --timeout
// bounds the whole run.
//
// --expect-renditions N fails unless the player lists exactly N video renditions. Players drop
// renditions the browser cannot decode (HEVC, 4:4:4, ...) without an error, so a test that
// knows how many rungs the engine wrote should say so.
//
// The player runs in a page served by this script from 127.0.0.1 (port 0), so it has a real
// http origin like a learner's browser; the manifest may live on another origin, in which case
// answering CORS is that server's job (as it is in production).
//
// Exit codes: 0 passed, 1 playback failed, 2 bad usage, 3 the harness itself could not run
// (browser missing, page did not load, timeout).

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEFAULT_CHROMIUM, launchChromium } from './browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeModules = path.join(here, 'node_modules');

// The UMD bundle of each player (it sets a global). Shaka's "compiled" build has HLS and DASH.
const PLAYER_BUNDLES = {
  hls: path.join(nodeModules, 'hls.js/dist/hls.min.js'),
  dash: path.join(nodeModules, 'dashjs/dist/modern/umd/dash.all.min.js'),
  shaka: path.join(nodeModules, 'shaka-player/dist/shaka-player.compiled.js'),
};

const EXIT = { passed: 0, failed: 1, usage: 2, harness: 3 };

function usage(message) {
  if (message) console.error(`play.mjs: ${message}`);
  console.error('usage: node play.mjs --player hls|dash|shaka --url URL [--timeout SECONDS] [--json] [--full] [--expect-renditions N] [--verbose] [--chromium PATH]');
  process.exit(EXIT.usage);
}

function parseArgs(argv) {
  const options = { timeout: 60, json: false, full: false, verbose: false, chromium: DEFAULT_CHROMIUM };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--player') options.player = value();
    else if (arg === '--url') options.url = value();
    else if (arg === '--timeout') options.timeout = Number(value());
    else if (arg === '--chromium') options.chromium = value();
    else if (arg === '--json') options.json = true;
    else if (arg === '--full') options.full = true;
    else if (arg === '--expect-renditions') options.expectRenditions = Number(value());
    else if (arg === '--verbose') options.verbose = true;
    else if (arg === '-h' || arg === '--help') usage();
    else usage(`unknown argument ${arg}`);
  }
  if (!PLAYER_BUNDLES[options.player]) usage('--player must be hls, dash or shaka');
  if (!options.url) usage('--url is required');
  try {
    new URL(options.url);
  } catch {
    usage(`--url ${options.url} is not an absolute URL`);
  }
  if (!Number.isFinite(options.timeout) || options.timeout <= 0) usage('--timeout must be a positive number of seconds');
  if (options.expectRenditions !== undefined && !(Number.isInteger(options.expectRenditions) && options.expectRenditions > 0)) {
    usage('--expect-renditions must be a positive integer');
  }
  return options;
}

const PAGE_HTML = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>Lectern player test</title></head>
<body>
<video id="video" muted playsinline width="640" height="360"></video>
<script src="/player.js"></script>
<script src="/adapters.js"></script>
<script src="/harness.js"></script>
</body>
</html>
`;

// Serves the test page, the chosen player's bundle and the harness scripts, nothing else.
async function startPageServer(player) {
  const routes = {
    '/': { type: 'text/html; charset=utf-8', body: PAGE_HTML },
    '/player.js': { type: 'text/javascript; charset=utf-8', body: await readFile(PLAYER_BUNDLES[player]) },
    '/adapters.js': { type: 'text/javascript; charset=utf-8', body: await readFile(path.join(here, 'page/adapters.js')) },
    '/harness.js': { type: 'text/javascript; charset=utf-8', body: await readFile(path.join(here, 'page/harness.js')) },
    // Chromium asks for one; an empty answer keeps a 404 out of the console.
    '/favicon.ico': { type: 'image/x-icon', body: '' },
  };
  const server = createServer((request, response) => {
    const route = routes[new URL(request.url, 'http://local').pathname];
    if (!route) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, { 'Content-Type': route.type, 'Cache-Control': 'no-store' }).end(route.body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

function printHuman(report) {
  const line = (text) => process.stdout.write(`${text}\n`);
  line(`player:   ${report.player} ${report.player_version ?? ''}`);
  line(`manifest: ${report.url}`);
  if (report.playback) {
    line(`playback: advanced ${report.playback.started_at}s -> ${report.playback.current_time}s` +
      ` of ${report.playback.duration ?? '?'}s${report.playback.ended ? ' (ended)' : ''}`);
  }
  if (report.renditions_listed !== null) line(`renditions: ${report.renditions_listed} video rendition(s) listed by the player`);
  for (const rendition of report.renditions) {
    const size = `${rendition.width ?? '?'}x${rendition.height ?? '?'}`;
    const status = rendition.played
      ? `played (${rendition.segments_loaded} segment(s), ${rendition.segments_loaded_after_switch} after the switch, saw ${rendition.seen_width}x${rendition.seen_height}, +${rendition.advanced_seconds}s)`
      : `FAILED: ${rendition.error}`;
    line(`  rendition ${rendition.key}: ${size} @ ${rendition.bandwidth ?? '?'} bit/s: ${status}`);
  }
  for (const error of report.errors) line(`  player ${error.fatal ? 'FATAL error' : 'error'}: ${error.message}`);
  for (const failure of report.http_errors ?? []) line(`  http: ${failure}`);
  for (const error of report.page_errors ?? []) line(`  page error: ${error}`);
  if (!report.passed) {
    for (const error of (report.console_errors ?? []).slice(0, 5)) line(`  console: ${error}`);
  }
  line(`${report.passed ? 'PASS' : 'FAIL'} in ${report.elapsed_seconds}s`);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();

  const { server, origin } = await startPageServer(options.player);
  let browser;
  let exitCode = EXIT.harness;
  try {
    browser = await launchChromium(options.chromium);
    const { context } = browser;
    const page = context.pages()[0] ?? (await context.newPage());

    const httpErrors = [];
    const pageErrors = [];
    // Chromium's own console errors are where a CORS refusal is explained (the player only
    // sees a status 0), so they go into the report.
    const consoleErrors = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && consoleErrors.length < 20) consoleErrors.push(message.text());
      if (options.verbose) console.error(`[page ${message.type()}] ${message.text()}`);
    });
    page.on('pageerror', (error) => {
      pageErrors.push(error.message);
      console.error(`play.mjs: uncaught error in the page: ${error.message}`);
    });
    // Media requests that failed at the HTTP level (404, 403 from a bad signature, ...) or did
    // not complete (CORS refusal, connection reset). The page's own origin is left out.
    page.on('response', (response) => {
      if (!response.url().startsWith(origin) && response.status() >= 400) {
        httpErrors.push(`${response.status()} ${response.request().method()} ${response.url()}`);
      }
    });
    page.on('requestfailed', (request) => {
      // Players abort requests on purpose when they switch renditions or seek.
      const reason = request.failure()?.errorText ?? 'failed';
      if (!request.url().startsWith(origin) && reason !== 'net::ERR_ABORTED') {
        httpErrors.push(`${reason} ${request.method()} ${request.url()}`);
      }
    });

    await page.goto(`${origin}/`, { waitUntil: 'load', timeout: 30_000 });
    const timeoutMs = options.timeout * 1000;
    const harnessOptions = {
      player: options.player,
      url: options.url,
      advanceSeconds: 2,
      // Infinity means "to the end" (advanceTarget stops just before the duration).
      renditionAdvanceSeconds: options.full ? Infinity : 1,
      loadTimeoutMs: Math.min(30_000, timeoutMs),
      playTimeoutMs: Math.min(30_000, timeoutMs),
      renditionTimeoutMs: Math.min(20_000, timeoutMs),
    };
    let overallTimer;
    const report = await Promise.race([
      page.evaluate((runOptions) => window.lecternHarness.run(runOptions), harnessOptions),
      new Promise((_, reject) => {
        overallTimer = setTimeout(() => reject(new Error(`no result within --timeout ${options.timeout} s`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(overallTimer));

    report.http_errors = httpErrors;
    report.page_errors = pageErrors;
    report.console_errors = consoleErrors;
    report.elapsed_seconds = Number(((Date.now() - started) / 1000).toFixed(2));
    // Problems seen from outside the page also fail the run, and are all named in the message.
    const problems = report.failure ? [report.failure] : [];
    const listed = report.renditions_listed;
    if (options.expectRenditions !== undefined && listed !== null && listed !== options.expectRenditions) {
      problems.push(`the player lists ${listed} video rendition(s), expected ${options.expectRenditions}` +
        ' (players silently drop renditions the browser cannot decode)');
    }
    if (httpErrors.length > 0) problems.push(`HTTP errors: ${httpErrors.slice(0, 5).join('; ')}`);
    if (pageErrors.length > 0) problems.push(`uncaught errors in the page: ${pageErrors.slice(0, 5).join('; ')}`);
    report.passed = problems.length === 0;
    report.failure = problems.length > 0 ? problems.join(' | ') : null;

    if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else printHuman(report);
    if (!report.passed) console.error(`play.mjs: ${options.player} FAILED on ${options.url}: ${report.failure}`);
    exitCode = report.passed ? EXIT.passed : EXIT.failed;
  } catch (error) {
    console.error(`play.mjs: ${options.player} could not run: ${error.message}`);
    if (options.json) {
      // Callers that parse stdout get a report in every case.
      const report = { player: options.player, url: options.url, passed: false, harness_error: true, failure: error.message };
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    }
    exitCode = EXIT.harness;
  } finally {
    await browser?.close();
    server.close();
    server.closeAllConnections();
  }
  process.exit(exitCode);
}

await main();
