// Debian's Chromium through playwright-core, the way every script here starts it: no browser
// of Playwright's own, a fresh profile per run, and no network traffic of Chromium's own.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

// Flags for a quiet, reproducible Chromium: no network calls of its own (updates, sync,
// field trials), no GPU (there is none), no sandbox (we run as root in a container).
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Belt and braces: the pages play muted, which autoplay policy allows anyway.
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * Starts Chromium with a fresh profile (no cached segments, no state from an earlier run).
 * Returns the Playwright context and a `close` that also removes the profile. Throws a message
 * naming the install script when Chromium or playwright-core is missing.
 */
export async function launchChromium(executablePath = DEFAULT_CHROMIUM) {
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new Error('playwright-core is not installed; run scripts/install-players.sh');
  }
  const profileDir = await mkdtemp(path.join(tmpdir(), 'lectern-player-'));
  let context;
  try {
    // launchPersistentContext is how Playwright takes a --user-data-dir of our choosing.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
  } catch (error) {
    await rm(profileDir, { recursive: true, force: true });
    throw new Error(`could not start Chromium at ${executablePath} (run scripts/install-players.sh): ${error.message.split('\n')[0]}`);
  }
  const close = async () => {
    await context.close().catch(() => {});
    await rm(profileDir, { recursive: true, force: true });
  };
  return { context, close };
}
