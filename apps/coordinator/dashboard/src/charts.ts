import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import type { FederationMetrics } from '../../src/http/metrics';
import { bytes, COLOURS } from './dom';

/**
 * The charts (Chart.js): accuracy per round per cluster, bytes per round, memory per budget level, and with
 * differential privacy the accountant's epsilon after each round (its figure stays hidden when DP is off).
 */

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

const common = { animation: false, responsive: true, maintainAspectRatio: true } as const;

export class Charts {
  private readonly accuracy: Chart<'line', (number | null)[], string>;
  private readonly traffic: Chart<'bar', number[], string>;
  private readonly memory: Chart<'bar', (number | null)[], string>;
  private readonly privacy: Chart<'line', (number | null)[], string>;

  constructor(
    accuracy: HTMLCanvasElement,
    traffic: HTMLCanvasElement,
    memory: HTMLCanvasElement,
    privacy: HTMLCanvasElement,
    private readonly privacyFigure: HTMLElement,
  ) {
    this.accuracy = new Chart(accuracy, {
      type: 'line',
      data: { labels: [], datasets: [] },
      options: {
        ...common,
        spanGaps: true,
        scales: { y: { min: 0, max: 1, title: { display: true, text: 'accuracy' } } },
      },
    });
    const byteTicks = { callback: (value: string | number) => bytes(Number(value)) };
    this.traffic = new Chart(traffic, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      options: { ...common, scales: { y: { ticks: byteTicks } } },
    });
    this.memory = new Chart(memory, {
      type: 'bar',
      data: { labels: [], datasets: [] },
      options: { ...common, scales: { y: { ticks: byteTicks } } },
    });
    this.privacy = new Chart(privacy, {
      type: 'line',
      data: { labels: [], datasets: [] },
      options: {
        ...common,
        spanGaps: true,
        scales: { y: { min: 0, title: { display: true, text: 'epsilon' } } },
      },
    });
  }

  update(metrics: FederationMetrics): void {
    const rounds = metrics.rounds;
    const labels = rounds.map((r) => (r.attempt > 1 ? `${r.round} (#${r.attempt})` : String(r.round)));
    this.accuracy.data.labels = labels;
    this.accuracy.data.datasets = [
      {
        label: 'all clients',
        data: rounds.map((r) => r.accuracy.overall),
        borderColor: '#344054',
        backgroundColor: '#344054',
        borderDash: [4, 4],
      },
      ...Array.from({ length: metrics.clusters }, (_, j) => ({
        label: `cluster ${j}`,
        data: rounds.map((r) => r.accuracy.perCluster[j] ?? null),
        borderColor: COLOURS[j % COLOURS.length],
        backgroundColor: COLOURS[j % COLOURS.length],
      })),
    ];
    this.accuracy.update('none');

    this.traffic.data.labels = labels;
    this.traffic.data.datasets = [
      { label: 'down (offers)', data: rounds.map((r) => r.bytes.download), backgroundColor: '#2e90fa' },
      { label: 'up (updates)', data: rounds.map((r) => r.bytes.upload), backgroundColor: '#f79009' },
    ];
    this.traffic.update('none');

    // Peak training memory reported per budget level (latest round that has one), beside what clients offered.
    const levels = [
      ...new Set([...Object.keys(metrics.budgets), ...rounds.flatMap((r) => Object.keys(r.memoryByBudget))]),
    ].sort((a, b) => Number(a) - Number(b));
    const latestPeak = (level: string) => {
      for (let i = rounds.length - 1; i >= 0; i--) {
        const stats = rounds[i]!.memoryByBudget[level];
        if (stats) return stats.meanPeakBytes;
      }
      return null;
    };
    this.memory.data.labels = levels.map((l) => `budget ${l}`);
    this.memory.data.datasets = [
      { label: 'training peak (reported)', data: levels.map(latestPeak), backgroundColor: '#9e77ed' },
      {
        label: 'memory offered (capability)',
        data: levels.map((l) => metrics.budgets[l]?.meanMemoryBytes ?? null),
        backgroundColor: '#d0d5dd',
      },
    ];
    this.memory.update('none');

    const { privacy } = metrics;
    this.privacyFigure.hidden = !privacy.enabled;
    if (privacy.enabled) {
      this.privacy.data.labels = labels;
      this.privacy.data.datasets = [
        {
          label: `epsilon at delta = ${privacy.delta}`,
          data: rounds.map((r) => r.epsilon),
          borderColor: '#f04438',
          backgroundColor: '#f04438',
        },
      ];
      this.privacy.update('none');
    }
  }
}
