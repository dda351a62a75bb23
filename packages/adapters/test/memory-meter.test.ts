import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { installMemoryMeter } from '../src/memory-meter';
import { useTestBackend } from './helpers/backend';

describe('memory meter', () => {
  beforeAll(useTestBackend);

  it('counts each data buffer once and tracks the peak', () => {
    const meter = installMemoryMeter();
    const start = meter.liveBytes();
    meter.resetPeak();
    const a = tf.zeros([1000]); // 4,000 bytes
    const views = [a.reshape([10, 100]), tf.clone(a), a.reshape([100, 10])]; // share a's buffer
    expect(meter.liveBytes() - start).toBe(4000);
    expect(tf.memory().numBytes).toBeGreaterThanOrEqual(16000); // tfjs counts every view
    const b = tf.square(a); // a new buffer
    expect(meter.liveBytes() - start).toBe(8000);
    tf.dispose([a, ...views, b]);
    expect(meter.liveBytes()).toBe(start);
    expect(meter.peakBytes() - start).toBe(8000);
    meter.resetPeak();
    expect(meter.peakBytes()).toBe(start);
  });
});
