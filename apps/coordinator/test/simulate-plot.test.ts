import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/simulate/config';
import { accuracyChart, bytesChart, lineChart, writePlots } from '../src/simulate/plot';
import type { SimulationResult } from '../src/simulate/run';

/** Just the fields the charts read. */
function fakeResult(strategy: string, accuracy: number[], bytes: number[]): SimulationResult {
  const rounds = accuracy.map((a, r) => ({
    personalized: { accuracy: a },
    global: [{ accuracy: a - 0.1 }, { accuracy: a - 0.05 }],
    bytes: { uploadPerClient: bytes[r]! / 2, downloadPerClient: bytes[r]! / 2 },
  }));
  return { config: parseConfig({ strategy }), runs: [{ rounds }, { rounds }] } as unknown as SimulationResult;
}

describe('plots', () => {
  const results = [
    fakeResult('fedhft', [0.6, 0.7, 0.8], [1e5, 1e5, 1e5]),
    fakeResult('fedavg-full', [0.5, 0.6, 0.7], [5e7, 5e7, 5e7]),
  ];

  it('draws one solid personalized and one dashed global line per run', () => {
    const svg = accuracyChart(results);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    expect(svg.match(/stroke-dasharray/g)!.length).toBe(4); // two dashed lines and their legend keys
    expect(svg).toContain('fedhft pers.');
    expect(svg).toContain('fedavg-full global');
  });

  it('puts bytes on a log scale with readable units', () => {
    const svg = bytesChart(results);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('100 kB');
    expect(svg).toContain('100 MB');
  });

  it('survives empty and constant series and escapes names', () => {
    const svg = lineChart({
      title: 'a<b',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        { name: 'n&m', points: [[1, 2]] },
        { name: 'e', points: [] },
      ],
    });
    expect(svg).toContain('a&#60;b');
    expect(svg).toContain('n&#38;m');
    expect(svg).not.toContain('NaN');
  });

  it('writes the SVG files', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'fedhft-plot-'));
    const files = await writePlots(results, folder, { prefix: 'sst2' });
    expect(files.map((f) => path.basename(f))).toEqual(['sst2-accuracy.svg', 'sst2-bytes.svg']);
    expect(await readFile(files[0]!, 'utf8')).toContain('</svg>');
  });
});
