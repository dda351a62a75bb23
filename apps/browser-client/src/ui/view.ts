import type { LocalDataset } from '../data/local-data';
import type { BackendEvent, Capability, ProgressEvent, RoundMetrics } from '../worker/messages';
import { formatBytes, formatMemberships, formatPercent } from './format';

/** The page's elements (index.html) and what each one shows. */

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`index.html has no #${id}`);
  return found as T;
}

export class PageView {
  readonly joinForm = element<HTMLFormElement>('join-form');
  readonly coordinator = element<HTMLInputElement>('coordinator');
  readonly token = element<HTMLInputElement>('token');
  readonly federation = element<HTMLInputElement>('federation');
  readonly demo = element<HTMLInputElement>('demo');
  readonly join = element<HTMLButtonElement>('join');
  readonly textColumn = element<HTMLInputElement>('text-column');
  readonly labelColumn = element<HTMLInputElement>('label-column');
  readonly file = element<HTMLInputElement>('file');
  readonly localRound = element<HTMLButtonElement>('local-round');
  private readonly connectionLine = element('connection');
  private readonly clientLine = element('client-id');
  private readonly federationLine = element('federation-status');
  private readonly refusalLine = element('refusal');
  private readonly statusLine = element('status');
  private readonly backendLine = element('backend');
  private readonly capabilityLine = element('capability');
  private readonly budgetLine = element('budget');
  private readonly dataSummary = element('data-summary');
  private readonly dataError = element('data-error');
  private readonly trainError = element('train-error');
  private readonly roundLine = element('round');
  private readonly stepLine = element('step');
  private readonly stepProgress = element<HTMLProgressElement>('step-progress');
  private readonly lossLine = element('loss');
  private readonly accuracyLine = element('accuracy');
  private readonly membershipsLine = element('memberships');
  private readonly bytesLine = element('bytes');
  private readonly framesLine = element('frames');
  private readonly logBox = element('log');

  log(message: string): void {
    console.log(`[client] ${message}`);
    this.logBox.textContent += `${new Date().toISOString().slice(11, 19)} ${message}\n`;
  }

  connection(text: string): void {
    this.connectionLine.textContent = text;
  }

  client(clientId: string, resumed: boolean): void {
    this.clientLine.textContent = `${clientId} (${resumed ? 'the identity this browser had: resumed' : 'new'})`;
    this.clientLine.dataset.clientId = clientId;
  }

  federationStatus(text: string): void {
    this.federationLine.textContent = text;
  }

  /** The coordinator's latest refusal (null hides it). */
  refusal(text: string | null): void {
    this.refusalLine.textContent = text ?? '';
    this.refusalLine.hidden = text === null;
  }

  status(text: string): void {
    this.statusLine.textContent = text;
  }

  backend(event: BackendEvent): void {
    const adapter = event.adapter
      ? `${event.adapter.vendor || 'unknown vendor'} ${event.adapter.architecture}`.trim() +
        (event.adapter.isFallbackAdapter ? ' (software fallback adapter)' : '')
      : null;
    this.backendLine.textContent =
      event.backend === 'webgpu'
        ? `WebGPU: ${adapter ?? 'adapter'}` +
          (event.limits?.maxBufferSize ? `, max buffer ${formatBytes(event.limits.maxBufferSize)}` : '')
        : `wasm fallback: ${event.fallback ?? 'no reason given'}`;
    this.backendLine.dataset.backend = event.backend;
  }

  capability(capability: Capability): void {
    this.capabilityLine.textContent =
      `${capability.tokensPerSecond.toFixed(0)} tokens/s training (batch ${capability.batch} x ` +
      `${capability.seqLen} tokens, ${(capability.stepSeconds * 1000).toFixed(0)} ms/step), peak ` +
      `${formatBytes(capability.peakBytes)} (model + ${formatBytes(capability.trainingBytes)} training); ` +
      `offers ${formatBytes(capability.memoryBytes)} (${capability.memorySource})`;
  }

  budget(budget: number): void {
    this.budgetLine.textContent = `${budget} (share of adapter rows this device trains)`;
  }

  data(dataset: LocalDataset, notice?: string): void {
    this.dataError.hidden = true;
    const classes = dataset.labelNames.map((name, i) => `${name}: ${dataset.classCounts[i]}`).join(', ');
    this.dataSummary.textContent =
      `${dataset.fileName}: ${dataset.train.texts.length} to train on, ${dataset.heldOut.texts.length} held out ` +
      `(${classes})` +
      (notice ? `. ${notice}` : '');
  }

  dataFailed(message: string): void {
    this.dataSummary.textContent = '';
    this.dataError.textContent = message;
    this.dataError.hidden = false;
  }

  trainFailed(message: string | null): void {
    this.trainError.textContent = message ?? '';
    this.trainError.hidden = message === null;
  }

  progress(event: ProgressEvent): void {
    this.roundLine.textContent = String(event.round);
    this.stepLine.textContent = `${event.step + 1} / ${event.totalSteps}`;
    this.stepProgress.max = Math.max(1, event.totalSteps);
    this.stepProgress.value = event.step + 1;
    this.lossLine.textContent = event.loss.toFixed(4);
  }

  roundDone(round: number, metrics: RoundMetrics): void {
    this.roundLine.textContent = `${round} (done: ${metrics.steps} steps, ${metrics.trainSeconds.toFixed(1)} s)`;
    this.lossLine.textContent = `${metrics.lastLoss.toFixed(4)} (mean ${metrics.meanLoss.toFixed(4)})`;
    this.accuracyLine.textContent =
      metrics.accuracy === null
        ? 'no held-out examples'
        : `${formatPercent(metrics.accuracy)} on ${metrics.heldOutExamples} held-out examples`;
  }

  memberships(values: readonly number[] | undefined): void {
    this.membershipsLine.textContent = formatMemberships(values);
  }

  bytes(sent: number, received: number): void {
    this.bytesLine.textContent = `${formatBytes(sent)} / ${formatBytes(received)}`;
  }

  frames(count: number): void {
    this.framesLine.textContent = String(count);
  }
}
