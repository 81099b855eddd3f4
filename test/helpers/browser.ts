import fs from 'node:fs';

import { type Browser, chromium } from 'playwright-core';

// The path of Debian's chromium package. The tests never download a browser build.
export const CHROMIUM_PATH = '/usr/bin/chromium';

// Flags that keep Chromium off the network of this closed machine and out of its sandbox, which needs
// privileges a test run as root does not get.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const chromiumMissing = !fs.existsSync(CHROMIUM_PATH);

/**
 * The `skip` option for browser tests: a reason when Chromium is missing, unless REQUIRE_CHROMIUM is set,
 * in which case launchChromium fails instead.
 */
export const chromiumSkip =
  chromiumMissing && !process.env.REQUIRE_CHROMIUM
    ? `${CHROMIUM_PATH} not found: install Debian's chromium package to run these tests (set REQUIRE_CHROMIUM to fail instead of skipping)`
    : false;

/** Starts headless Chromium from Debian's package. */
export async function launchChromium(): Promise<Browser> {
  if (chromiumMissing) {
    throw new Error(`REQUIRE_CHROMIUM is set but ${CHROMIUM_PATH} was not found; install Debian's chromium package`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}
