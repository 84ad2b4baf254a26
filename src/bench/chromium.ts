// Debian's Chromium driven by playwright-core, for the scripts that need a real browser (bench:browser, the
// README screenshots) and the browser tests: headless on a closed network.

import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHARNN_CHROMIUM ?? '/usr/bin/chromium';

/** Why Chromium cannot be driven here (for a test's skip message), or null when it can. */
export async function chromiumUnavailable(): Promise<string | null> {
  if (!existsSync(CHROMIUM)) return `no browser at ${CHROMIUM} (install Debian's chromium: apt-get install chromium)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm ci installs it as a devDependency)';
  }
  return null;
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHARNN_CHROMIUM`);
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // without these Chromium keeps trying to reach Google's services
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
