// End-to-end suite: the facade in js/ driven in Debian's Chromium over real OPFS. Tests launch their own
// persistent contexts (e2e/fixtures.js) because OPFS durability across browser restarts needs a profile on
// disk; `use` below only matters for tests that take Playwright's built-in `page`.
import { defineConfig } from '@playwright/test';
import { launchOptions } from './e2e/browser-options.js';

export default defineConfig({
  testDir: './e2e',
  testMatch: '**/*.spec.js',
  globalSetup: './e2e/global-setup.js',
  // Two cores: every test runs a whole browser, and crash tests SIGKILL it.
  workers: 1,
  fullyParallel: false,
  timeout: 30_000,
  expect: { timeout: 5_000 },
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : 'list',
  use: {
    headless: true,
    launchOptions,
  },
});
