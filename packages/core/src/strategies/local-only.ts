import type { LowRankFactors } from '../codec/model-payload';
import type { ClientUpdate, HeadParams } from '../update';
import { mixturePayload, singleCluster } from './common';
import { initialLora, uploadedFactors } from './lora-factors';
import { checkOptionsObject, seedOption, type Seed } from './options';
import { RoundTracker } from './rounds';
import { checkSchema, copyHead, startingHead } from './schema';
import {
  decodeFloat32,
  decodeHead,
  encodeArray,
  encodeHead,
  openSnapshot,
  record,
  wrapSnapshot,
} from './state-codec';
import type { ClientOffer, ClientProfile, ModelSchema, RoundSummary, Strategy } from './strategy';
import { checkAdapterUpload } from './uploads';

export interface LocalOnlyOptions {
  /** Seeds the LoRA initialisation of A (the same start for every client). Default 0. */
  readonly seed?: Seed;
  /** Starting head (default zeros). */
  readonly initialHead?: HeadParams;
}

const OPTIONS = ['seed', 'initialHead'] as const;

interface ClientModel {
  readonly factors: Map<string, LowRankFactors>;
  readonly head: HeadParams;
}

/**
 * Local-only training, the lower reference: no federation. Each client keeps training its own full-rank LoRA
 * and head across rounds (adapterStart 'continue', no masks); the strategy merely holds each client's model
 * between its rounds, the way its own storage would. Offers are marked `local: true` because in reality
 * neither payload nor update leaves the device, so byte accounting must not count them. Summaries carry no
 * cluster models: there is no shared model, only personalized evaluation.
 */
export class LocalOnlyStrategy implements Strategy {
  readonly name = 'local-only';
  private readonly schema: ModelSchema;
  private readonly seed: Seed;
  private initialHead: HeadParams;
  private models = new Map<string, ClientModel>();
  private readonly rounds = new RoundTracker<true>();
  private readonly pending = new Map<string, ClientModel>();

  constructor(schema: ModelSchema, options: LocalOnlyOptions = {}) {
    checkOptionsObject(options, OPTIONS, 'local-only');
    this.schema = checkSchema(schema, 'adapted');
    this.seed = seedOption(options.seed);
    this.initialHead = startingHead(this.schema, options.initialHead);
  }

  offer(client: ClientProfile, round: number): ClientOffer {
    this.rounds.checkOffer(client, round);
    const model = this.models.get(client.clientId) ?? {
      factors: initialLora(this.schema, this.seed),
      head: this.initialHead,
    };
    this.rounds.recordOffer(client.clientId, round, true);
    return {
      kind: 'train',
      local: true,
      payload: mixturePayload(round, model.factors, model.head),
      plan: {
        mode: 'lora',
        rank: this.schema.rank,
        adapterStart: 'continue',
        maskMode: 'none',
        budget: client.budget,
        scale: this.schema.alpha / this.schema.rank,
      },
    };
  }

  receive(update: ClientUpdate, client: ClientProfile): void {
    this.rounds.checkUpdate(update, client);
    const scale = this.schema.alpha / this.schema.rank;
    checkAdapterUpload(update, this.schema, () => ({ rank: this.schema.rank, rows: 'all', scale }));
    // Copies: the caller may reuse its buffers once receive() returns.
    const factors = new Map([...update.adapters].map(([name, f]) => [name, uploadedFactors(f)]));
    this.pending.set(client.clientId, { factors, head: copyHead(update.head) });
    this.rounds.markReceived(client.clientId);
  }

  finishRound(round: number): RoundSummary {
    const participants = this.rounds.finish(round);
    for (const [clientId, model] of this.pending) this.models.set(clientId, model);
    this.pending.clear();
    return { round, participants, memberships: singleCluster(participants), clusterModels: [] };
  }

  /** The model a client holds now (undefined before its first round), for tests and evaluation. */
  clientModel(
    clientId: string,
  ): { readonly factors: ReadonlyMap<string, LowRankFactors>; readonly head: HeadParams } | undefined {
    return this.models.get(clientId);
  }

  snapshot(): unknown {
    this.rounds.assertIdle('snapshot()');
    const clients: Record<string, unknown> = {};
    for (const [clientId, { factors, head }] of this.models) {
      const saved: Record<string, { A: string; B: string }> = {};
      for (const [name, f] of factors) saved[name] = { A: encodeArray(f.A), B: encodeArray(f.B) };
      clients[clientId] = { factors: saved, head: encodeHead(head) };
    }
    return wrapSnapshot(this.name, this.config(), this.rounds.nextRound, {
      initialHead: encodeHead(this.initialHead),
      clients,
    });
  }

  restore(snapshot: unknown): void {
    this.rounds.assertIdle('restore()');
    const { nextRound, state } = openSnapshot(snapshot, this.name, this.config());
    const { alpha, rank } = this.schema;
    const models = new Map<string, ClientModel>();
    for (const [clientId, value] of Object.entries(record(state.clients, 'clients'))) {
      const entry = record(value, `clients "${clientId}"`);
      const saved = record(entry.factors, `clients "${clientId}".factors`);
      const factors = new Map<string, LowRankFactors>();
      for (const { name, dOut, dIn } of this.schema.adapted) {
        const label = `clients "${clientId}" "${name}"`;
        const f = record(saved[name], label);
        const A = decodeFloat32(f.A, rank * dIn, `${label}.A`);
        const B = decodeFloat32(f.B, dOut * rank, `${label}.B`);
        factors.set(name, { dOut, dIn, rank, A, B, scale: alpha / rank });
      }
      models.set(clientId, {
        factors,
        head: decodeHead(entry.head, this.schema, `clients "${clientId}".head`),
      });
    }
    const initialHead = decodeHead(state.initialHead, this.schema, 'initialHead');
    this.models = models;
    this.initialHead = initialHead;
    this.rounds.nextRound = nextRound;
  }

  private config(): unknown {
    return { schema: this.schema, seed: this.seed };
  }
}
