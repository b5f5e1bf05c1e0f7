// How the suite drives Debian's system Chromium. Playwright cannot download browsers here, so every launch
// (the config's `use` and the persistent contexts in fixtures.js) goes through these options.
export const CHROMIUM_PATH = process.env.OUTPOST_CHROMIUM ?? '/usr/bin/chromium';

export const launchOptions = {
  executablePath: CHROMIUM_PATH,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
