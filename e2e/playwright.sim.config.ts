import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from '@playwright/test';
import base from './playwright.config';

const here = path.dirname(fileURLToPath(import.meta.url));

// `npm run e2e:sim`: the larger federation scenario (e2e/sim/), kept out of `npm test`'s run (e2e/tests/). It
// starts its own coordinator, so none of the default config's dev servers.
export default defineConfig({
  ...base,
  testDir: path.join(here, 'sim'),
  timeout: 900_000,
  webServer: undefined,
});
