import type { ModelSchema } from '@fedhft/core';
import {
  parseWorkerMessage,
  type BackendEvent,
  type Capability,
  type PageMessage,
  type ProbeShape,
  type BackendChoice,
  type ProgressEvent,
  type StatusEvent,
  type UpdateReply,
  type WorkerMessage,
  type WorkerReply,
} from './worker/messages';

/** Page-side handle on the training worker: typed requests that resolve with the worker's reply. */

export interface TrainerEvents {
  onBackend?(event: BackendEvent): void;
  onProgress?(event: ProgressEvent): void;
  onStatus?(event: StatusEvent): void;
  /** Errors not tied to a request (device errors, unreadable messages). */
  onError?(message: string): void;
}

type Pending = {
  resolve(reply: WorkerReply): void;
  reject(error: Error): void;
  expects: WorkerReply['type'];
};

/** Request fields the caller gives (the id is added here). */
type RequestOf<T extends PageMessage['type']> = Omit<Extract<PageMessage, { type: T }>, 'id' | 'type'>;

export class Trainer {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(private readonly events: TrainerEvents = {}) {
    this.worker = new Worker(new URL('./worker/worker.ts', import.meta.url), {
      type: 'module',
      name: 'trainer',
    });
    this.worker.addEventListener('message', (event) => this.receive(event.data));
    this.worker.addEventListener('error', (event) => this.failAll(`the worker failed: ${event.message}`));
  }

  init(request: RequestOf<'init'>): Promise<Capability> {
    return this.request('init', 'ready', request).then((reply) => reply.capability);
  }

  configure(request: RequestOf<'configure'>): Promise<ModelSchema> {
    return this.request('configure', 'schema', request).then((reply) => reply.schema);
  }

  setData(request: RequestOf<'data'>): Promise<{ trainExamples: number; heldOutExamples: number }> {
    return this.request('data', 'data-ready', request);
  }

  /** Trains one offered round; the payload buffer is transferred to the worker (unusable here afterwards). */
  train(request: RequestOf<'train'>): Promise<UpdateReply> {
    return this.request('train', 'update', request, [request.payload]);
  }

  terminate(): void {
    this.worker.terminate();
    this.failAll('the worker was stopped');
  }

  private request<T extends PageMessage['type'], R extends WorkerReply['type']>(
    type: T,
    expects: R,
    fields: RequestOf<T>,
    transfer: Transferable[] = [],
  ): Promise<Extract<WorkerReply, { type: R }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (reply: WorkerReply) => void, reject, expects });
      this.worker.postMessage({ ...fields, type, id }, transfer);
    });
  }

  private receive(data: unknown): void {
    let message: WorkerMessage;
    try {
      message = parseWorkerMessage(data);
    } catch (error) {
      this.events.onError?.((error as Error).message);
      return;
    }
    switch (message.type) {
      case 'backend':
        return this.events.onBackend?.(message);
      case 'progress':
        return this.events.onProgress?.(message);
      case 'status':
        return this.events.onStatus?.(message);
      case 'error': {
        const pending = message.replyTo === undefined ? undefined : this.pending.get(message.replyTo);
        if (!pending) return this.events.onError?.(message.message);
        this.pending.delete(message.replyTo!);
        return pending.reject(new Error(message.message));
      }
      default: {
        const pending = this.pending.get(message.replyTo);
        if (!pending) return this.events.onError?.(`unexpected ${message.type} reply from the worker`);
        this.pending.delete(message.replyTo);
        if (pending.expects !== message.type) {
          return pending.reject(
            new Error(`the worker answered ${message.type}, expected ${pending.expects}`),
          );
        }
        pending.resolve(message);
      }
    }
  }

  private failAll(reason: string): void {
    for (const pending of this.pending.values()) pending.reject(new Error(reason));
    this.pending.clear();
    this.events.onError?.(reason);
  }
}

export type { BackendChoice, ProbeShape };
