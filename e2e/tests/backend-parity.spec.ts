import { expect, test } from '@playwright/test';
import type { ParityResult } from '../pages/backend-parity';

const TOLERANCE = 1e-3;

test('LoRA + head training losses on webgpu match wasm within 1e-3', async ({ page }, testInfo) => {
  page.on('console', (message) => {
    if (message.text().startsWith('[parity]')) console.log(message.text());
  });
  page.on('pageerror', (error) => console.log(`[page error] ${error.message}`));

  await page.goto('/backend-parity.html');
  await page.waitForFunction(() => window.__result !== undefined, undefined, {
    timeout: testInfo.timeout - 10_000,
    polling: 500,
  });
  const result = (await page.evaluate(() => window.__result)) as ParityResult;
  await testInfo.attach('backend-parity.json', {
    body: JSON.stringify(result, null, 2),
    contentType: 'application/json',
  });
  const runs = Object.entries(result.backends).map(
    ([name, run]) => `${name} (${run.ms} ms): ${run.losses.join(', ')}`,
  );
  console.log(`losses per step\n  ${runs.join('\n  ')}\nmax |webgpu - wasm| = ${result.maxAbsDiff}`);

  // Checked first: an invalid WebGPU pipeline leaves its output unwritten, which is the root cause of any
  // NaN or mismatch that follows, and tfjs does not report it.
  expect(result.gpuErrors, 'WebGPU device errors (tfjs kernels that did not run)').toEqual([]);
  expect(result.error, 'the page reported an error').toBeUndefined();
  const webgpu = result.backends.webgpu;
  const wasm = result.backends.wasm;
  expect(webgpu, 'webgpu run missing').toBeDefined();
  expect(wasm, 'wasm run missing').toBeDefined();

  // WebGPU really ran: tfjs reported it and the browser gave a WebGPU adapter (SwiftShader here, a GPU elsewhere).
  expect(webgpu!.backend).toBe('webgpu');
  expect(webgpu!.adapter, 'navigator.gpu.requestAdapter() returned no adapter').toBeDefined();
  expect(wasm!.backend).toBe('wasm');
  expect(webgpu!.completed && wasm!.completed, 'a run stopped early').toBe(true);

  const steps = webgpu!.losses.length;
  expect(steps).toBeGreaterThanOrEqual(3);
  expect(wasm!.losses).toHaveLength(steps);
  for (const losses of [webgpu!.losses, wasm!.losses]) {
    for (const loss of losses) expect(Number.isFinite(loss), `loss ${loss} is not finite`).toBe(true);
    // Training happens: every step sees the same batch (the whole set), so the loss moves only because the
    // parameters do, and it must go down.
    const spread = Math.max(...losses) - Math.min(...losses);
    expect(spread, `losses do not change across steps: ${losses.join(', ')}`).toBeGreaterThan(10 * TOLERANCE);
    expect(losses.at(-1)!, `loss did not decrease: ${losses.join(', ')}`).toBeLessThan(losses[0]!);
  }
  for (let step = 0; step < steps; step++) {
    const diff = Math.abs(webgpu!.losses[step]! - wasm!.losses[step]!);
    expect(
      diff,
      `step ${step}: webgpu ${webgpu!.losses[step]} vs wasm ${wasm!.losses[step]}`,
    ).toBeLessThanOrEqual(TOLERANCE);
  }
  expect(result.maxAbsDiff).not.toBeNull();
  expect(result.maxAbsDiff!).toBeLessThanOrEqual(TOLERANCE);
});
