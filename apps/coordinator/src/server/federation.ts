import { randomBytes, createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  createStrategy,
  decodeLimits,
  encodeModelPayload,
  type CapabilityReport,
  type ClientOffer,
  type ClientProfile,
  type ClusterModel,
  type DemoShardReply,
  type DecodeLimits,
  type EncodeOptions,
  type FederationInfo,
  type Heartbeat,
  type HeartbeatReply,
  type JoinReply,
  type JoinRequest,
  type ModelSchema,
  type OfferMessage,
  type Refusal,
  type Strategy,
  type StrategyName,
  type TrainHyperParameters,
  type UpdateMeta,
  type UpdateReply,
} from '@fedhft/core';
import { selectClients } from '../federation/rounds';
import { budgetFor, ClientRegistry } from './clients';
import { federationStrategyOptions, type FederationConfig } from './config';
import type { DemoShards } from './demo-shards';
import { RefusalLog, type RefusalEntry } from './refusals';
import { FederationStore, type Checkpoint, CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from './store';
import { roundNotice, roundRecordBase } from './round-record';
import { checkOffered, decodeOfferedUpload, isRefusal, refusal, type OfferedUpload } from './uploads';
import type {
  ClientChannel,
  FederationEvent,
  FederationEventBody,
  FederationRuntime,
  FederationSetup,
  FederationState,
  Offered,
  OpenRound,
  Phase,
  RemoteClaim,
  RoundRecord,
  RoundSplit,
} from './federation-types';

export type * from './federation-types';

/**
 * One federation (task) of the coordinator: its clients, its strategy and its rounds. A round starts once
 * `minClients` clients are connected with a budget; the selected ones get their offers (all made before any
 * update arrives, as in the simulator); updates are decoded with the core codec and folded into the strategy
 * as they arrive; the round closes when every trained offer came back or at the deadline. Straggler policy:
 * at the deadline the round is aggregated if at least `minClients` updates arrived, otherwise it fails, the
 * strategy is restored from the last completed round and the same round number is tried again. After each
 * completed round the strategy snapshot and the history are checkpointed atomically.
 *
 * Transport-free: sockets reach it through ClientChannel, so the socket.io layer stays thin.
 */

type Reply<T> = T | Refusal;

/** Longest stretch startRound makes offers without letting sockets be served. */
const OFFER_SLICE_MS = 20;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export class Federation extends EventEmitter {
  readonly id: string;
  readonly config: FederationConfig;
  readonly schema: ModelSchema;
  readonly store: FederationStore;
  readonly refusals: RefusalLog;
  readonly demo: DemoShards | null;
  readonly peft: FederationSetup['peft'] | null;
  private readonly registry: ClientRegistry;
  private readonly channels = new Map<string, ClientChannel>();
  private readonly limits: DecodeLimits & { readonly maxBytes: number };
  /** Set by the leader of a multi-process coordinator (splitRounds). */
  private split: RoundSplit | null = null;
  private readonly encodeOptions: EncodeOptions;
  private readonly setup: FederationSetup;
  private readonly tokenDigest: Buffer;
  private readonly log: (line: string) => void;
  private strategy: Strategy;
  /** Strategy snapshot of the last completed round (or the start): what a failed round is rolled back to. */
  private lastSnapshot: unknown;
  private history: RoundRecord[];
  private nextRound: number;
  private phase: Phase = 'waiting';
  private open: OpenRound | null = null;
  private startTimer: NodeJS.Timeout | null = null;
  /** A round's offers are being made (startRound yields while it makes them). */
  private starting = false;
  private stopped = false;
  private paused: boolean;
  /** The cluster models of the last round aggregated by this process (exports read them). */
  private latestModels: { readonly round: number; readonly models: readonly ClusterModel[] } | null = null;

  private constructor(
    setup: FederationSetup,
    runtime: FederationRuntime,
    state: { registry: ClientRegistry; history: RoundRecord[]; snapshot: unknown | null },
  ) {
    super();
    const { config, schema } = setup;
    this.id = config.id;
    this.config = config;
    this.schema = schema;
    this.store = new FederationStore(runtime.dataDir, config.id);
    this.log = runtime.log ?? (() => {});
    this.limits = { ...decodeLimits(schema), maxBytes: config.maxUpdateBytes };
    this.encodeOptions = {
      precision: config.precision,
      ...(config.headPrecision === undefined ? {} : { headPrecision: config.headPrecision }),
    };
    this.setup = setup;
    this.tokenDigest = digest(config.token);
    this.registry = state.registry;
    this.demo = setup.demo ?? null;
    this.peft = setup.peft ?? null;
    this.paused = !config.autoStart;
    this.history = state.history;
    this.refusals = new RefusalLog((entry) => this.onRefusal(entry));
    this.strategy = this.newStrategy();
    if (state.snapshot !== null) this.strategy.restore(state.snapshot);
    this.lastSnapshot = this.strategy.snapshot();
    this.nextRound = (this.lastSnapshot as { nextRound: number }).nextRound;
    if (this.nextRound >= config.rounds) this.phase = 'finished';
  }

  /** Opens a federation: a fresh one (checkpointed at once, so round 0 can be resumed) or, with resume, the saved one. */
  static async open(setup: FederationSetup, runtime: FederationRuntime): Promise<Federation> {
    const store = new FederationStore(runtime.dataDir, setup.config.id);
    await store.init();
    const checkpoint = await store.readCheckpoint<RoundRecord>();
    if (checkpoint !== null && !runtime.resume) {
      throw new Error(
        `${store.folder} holds a checkpoint (next round ${checkpoint.nextRound}): start with --resume to ` +
          'continue it, or choose another data folder',
      );
    }
    let registry = new ClientRegistry();
    let refusalCounts: unknown = null;
    let demoAssignments: unknown = null;
    if (checkpoint !== null) {
      const saved = (await store.readClients()) as {
        clients?: unknown;
        refusals?: unknown;
        demo?: unknown;
      } | null;
      if (saved !== null) {
        registry = ClientRegistry.fromJSON(saved.clients);
        refusalCounts = saved.refusals;
        demoAssignments = saved.demo;
      }
    }
    const federation = new Federation(setup, runtime, {
      registry,
      history: checkpoint?.history ?? [],
      snapshot: checkpoint?.strategy ?? null,
    });
    if (checkpoint !== null && checkpoint.nextRound !== federation.nextRound) {
      throw new Error(`${store.checkpointFile}: nextRound disagrees with the strategy snapshot`);
    }
    federation.refusals.restoreCounts(refusalCounts);
    federation.demo?.restore(demoAssignments);
    if (checkpoint === null) await federation.checkpoint();
    federation.log(
      checkpoint === null
        ? `federation ${federation.id}: new (${setup.config.strategy}), state in ${store.folder}`
        : `federation ${federation.id}: resumed at round ${federation.nextRound} with ${registry.all().length} known clients`,
    );
    return federation;
  }

  info(): FederationInfo {
    const c = this.config;
    return {
      id: c.id,
      description: c.description,
      strategy: c.strategy,
      encoder: c.encoder,
      numClasses: c.numClasses,
      ...(c.labelNames ? { labelNames: c.labelNames } : {}),
      rank: c.rank,
      alpha: c.alpha,
      targets: [...c.targets],
      round: this.nextRound,
      totalRounds: c.rounds,
      heartbeatIntervalMs: c.heartbeatIntervalMs,
      maxUpdateBytes: c.maxUpdateBytes,
    };
  }

  state(): FederationState {
    const open = this.open;
    return {
      id: this.id,
      description: this.config.description,
      strategy: this.config.strategy,
      phase: this.phase,
      paused: this.paused,
      round: this.nextRound,
      totalRounds: this.config.rounds,
      minClients: this.config.minClients,
      clients: this.registry.view(),
      openRound:
        open === null
          ? null
          : {
              round: open.round,
              attempt: open.attempt,
              startedAt: open.startedAt,
              deadline: open.deadline,
              selected: [...open.offers.keys()],
              training: [...open.offers].filter(([, o]) => o.offerId !== null).map(([id]) => id),
              received: [...open.received.keys()],
            },
      history: [...this.history],
      refusals: this.refusals.summary(),
      demo: this.demo?.summary() ?? null,
    };
  }

  /** The cluster models (deltas and heads) of the last round this process aggregated; null before one. */
  clusterModels(): { readonly round: number; readonly models: readonly ClusterModel[] } | null {
    return this.latestModels;
  }

  // --- run controls ----------------------------------------------------------------------------------------

  /** Holds back new rounds; an open round still closes as usual. */
  pauseRounds(): void {
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    if (this.paused) return;
    this.paused = true;
    this.log(`federation ${this.id}: paused`);
    this.emitEvent({ type: 'run-state', paused: true });
  }

  /** Lets rounds start again (at once when enough clients are ready). */
  startRounds(): void {
    if (this.paused) {
      this.paused = false;
      this.log(`federation ${this.id}: started`);
      this.emitEvent({ type: 'run-state', paused: false });
    }
    this.scheduleStart();
  }

  /** The strategy's snapshot now; between rounds only (it is what the next checkpoint would hold). */
  strategySnapshot(): unknown {
    if (this.open !== null) return this.lastSnapshot;
    return this.strategy.snapshot();
  }

  // --- client messages -------------------------------------------------------------------------------------

  join(request: JoinRequest, channel: ClientChannel): Reply<JoinReply> {
    const given = digest(request.token);
    if (!timingSafeEqual(given, this.tokenDigest)) {
      return refusal('bad-token', `wrong token for federation "${this.id}"`, 'join');
    }
    if ((request.clientId === undefined) !== (request.secret === undefined)) {
      return refusal(
        'malformed',
        'join: clientId and secret go together (both for a reconnect, neither to join anew)',
        'join',
      );
    }
    const now = Date.now();
    let secret: string | undefined;
    let record;
    if (request.clientId !== undefined) {
      record = this.registry.authenticate(request.clientId, request.secret!);
      if (record === null) {
        return refusal('bad-identity', `unknown client "${request.clientId}" or wrong secret`, 'join');
      }
    } else if (this.registry.size >= this.config.maxClients) {
      return refusal(
        'too-many',
        `federation "${this.id}" has its ${this.config.maxClients} clients (maxClients); no new identities`,
        'join',
      );
    } else {
      ({ record, secret } = this.registry.create(now));
    }
    const previous = this.channels.get(record.clientId);
    if (previous && previous.connectionId !== channel.connectionId) {
      previous.disconnect('replaced by a newer connection of the same client');
    }
    this.channels.set(record.clientId, channel);
    record.lastSeenAt = now;
    this.registry.liveState(record.clientId).connected = true;
    void this.saveClients();
    const resumed = secret === undefined;
    this.emitEvent({ type: 'client-joined', clientId: record.clientId, resumed });
    const clientId = record.clientId;
    // After the acknowledgement: a reloaded page that was training this round gets its offer again.
    setImmediate(() => {
      this.resendOffer(clientId);
      this.scheduleStart();
    });
    return {
      ok: true,
      clientId,
      ...(secret === undefined ? {} : { secret }),
      resumed,
      ...(record.budget === undefined ? {} : { budget: record.budget }),
      federation: this.info(),
    };
  }

  disconnect(clientId: string, channel: ClientChannel): void {
    if (this.channels.get(clientId)?.connectionId !== channel.connectionId) return;
    this.channels.delete(clientId);
    this.registry.liveState(clientId).connected = false;
    this.emitEvent({ type: 'client-left', clientId });
  }

  capabilities(clientId: string, report: CapabilityReport): Reply<{ ok: true; budget: number }> {
    const record = this.registry.get(clientId)!;
    const budget = budgetFor(report, this.config.budgetLevels);
    record.capabilities = report;
    record.budget = budget;
    record.lastSeenAt = Date.now();
    void this.saveClients();
    this.emitEvent({ type: 'capabilities', clientId, budget });
    this.scheduleStart();
    return { ok: true, budget };
  }

  heartbeat(clientId: string, beat: Heartbeat): Reply<HeartbeatReply> {
    const record = this.registry.get(clientId)!;
    record.lastSeenAt = Date.now();
    const live = this.registry.liveState(clientId);
    if (beat.status !== undefined) live.status = beat.status;
    if (beat.progress !== undefined) live.progress = beat.progress;
    return {
      ok: true,
      serverTime: Date.now(),
      round: this.nextRound,
      phase: this.phase === 'finished' ? 'finished' : this.phase === 'waiting' ? 'waiting' : 'training',
    };
  }

  /** An uploaded update: every check before the strategy sees it, which validates it fully before folding in. */
  update(clientId: string, meta: UpdateMeta, bytes: Uint8Array): Reply<UpdateReply> {
    const open = this.roundForUpload(clientId, meta);
    if (isRefusal(open)) return open;
    const offered = open.offers.get(clientId);
    const update = decodeOfferedUpload(
      clientId,
      this.offeredUpload(open, clientId),
      meta,
      bytes,
      this.limits,
    );
    if (isRefusal(update)) return update;
    try {
      this.strategy.receive(update, offered!.profile);
    } catch (error) {
      return refusal('bad-payload', `the strategy refused the update: ${(error as Error).message}`, 'update');
    }
    return this.accepted(open, clientId, {
      bytes: bytes.byteLength,
      exampleCount: update.exampleCount,
      meta,
    });
  }

  /**
   * Multi-process rounds: a member process decoded and checked an update of one of its clients and asks to
   * count it; once accepted here it folds the update into its own share of the round (merged at the close).
   * The same checks as update() before decoding, so each client counts once whichever process it reached.
   */
  claimRemote(clientId: string, meta: UpdateMeta, claim: RemoteClaim): Reply<UpdateReply> {
    if (this.split === null) return refusal('internal', 'this coordinator does not split rounds', 'update');
    const open = this.roundForUpload(clientId, meta);
    if (isRefusal(open)) return open;
    const refused = checkOffered(clientId, this.offeredUpload(open, clientId), meta);
    if (refused !== null) return refused;
    return this.accepted(open, clientId, { ...claim, meta, remote: true });
  }

  /** A remote claim whose update the member could not fold after all: it no longer counts. */
  releaseRemote(clientId: string, round: number): void {
    const open = this.open;
    if (open?.round === round && this.phase === 'training' && open.received.get(clientId)?.remote) {
      open.received.delete(clientId);
    }
  }

  /**
   * Lets the leader of a multi-process coordinator split this federation's rounds (see RoundSplit). Throws
   * when the strategy cannot: its rounds must be sums of per-update terms.
   */
  splitRounds(split: RoundSplit): void {
    const reason =
      this.strategy.splitRoundsUnsupported?.() ??
      (this.strategy.exportRoundShare ? null : `strategy ${this.config.strategy} does not support it`);
    if (reason !== null) {
      throw new Error(`federation ${this.id}: rounds cannot be split over coordinator processes: ${reason}`);
    }
    this.split = split;
  }

  /** The open round an upload for `meta` may count in, or why none. */
  private roundForUpload(clientId: string, meta: UpdateMeta): OpenRound | Refusal {
    const event = 'update';
    if (this.registry.get(clientId)?.budget === undefined) {
      return refusal('not-ready', 'send a capability report before any update', event);
    }
    if (meta.clientId !== clientId) {
      return refusal(
        'wrong-client',
        `this connection is client "${clientId}", not "${meta.clientId}"`,
        event,
      );
    }
    const open = this.open;
    if (open === null || this.phase !== 'training' || meta.round !== open.round) {
      // A late update for a closed round says so, even once the federation has finished.
      if (this.phase === 'finished' && !this.history.some((r) => r.round === meta.round)) {
        const reason = `federation "${this.id}" has finished its ${this.config.rounds} rounds`;
        return refusal('finished', reason, event);
      }
      return refusal('wrong-round', this.wrongRoundReason(meta.round), event);
    }
    return open;
  }

  private offeredUpload(open: OpenRound, clientId: string): OfferedUpload | undefined {
    const offered = open.offers.get(clientId);
    return (
      offered && { round: open.round, offerId: offered.offerId, alreadyReceived: open.received.has(clientId) }
    );
  }

  /** Counts an update that was folded in (here, or by a member process for remote ones). */
  private accepted(
    open: OpenRound,
    clientId: string,
    upload: { bytes: number; exampleCount: number; meta: UpdateMeta; remote?: boolean },
  ): UpdateReply {
    const { bytes, meta } = upload;
    open.received.set(clientId, {
      bytes,
      ...(meta.metrics ? { metrics: meta.metrics } : {}),
      ...(upload.remote ? { remote: true } : {}),
    });
    open.offers.get(clientId)!.payload = null; // no resend needed any more
    const record = this.registry.get(clientId)!;
    record.exampleCount = upload.exampleCount;
    record.lastSeenAt = Date.now();
    this.emitEvent({ type: 'update-accepted', round: open.round, clientId, bytes });
    if (open.received.size === open.training) setImmediate(() => void this.closeRound(open, 'all-received'));
    return { ok: true, round: open.round, received: open.received.size };
  }

  /** A joined client's demo shard (public demo data, sent to that client only). */
  demoShard(clientId: string): Reply<DemoShardReply> {
    if (this.demo === null) {
      return refusal('unavailable', `federation "${this.id}" has no demo corpus`, 'demo-shard');
    }
    const shard = this.demo.shardFor(clientId);
    void this.saveClients();
    this.emitEvent({ type: 'demo-shard', clientId, index: shard.index });
    return { ok: true, shard };
  }

  /** Records a refusal concerning this federation (the socket layer calls it for everything it refuses). */
  refuse(entry: Omit<RefusalEntry, 'at' | 'federation'>, quiet = false): void {
    this.refusals.record({ at: Date.now(), federation: this.id, ...entry }, quiet);
  }

  /** Stops timers and waits for pending writes; the open round (if any) is abandoned, not aggregated. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    if (this.open?.timer) clearTimeout(this.open.timer);
    await this.store.flush();
  }

  // --- rounds --------------------------------------------------------------------------------------------

  private newStrategy(): Strategy {
    return federationStrategy(this.setup);
  }

  private scheduleStart(): void {
    if (this.stopped || this.paused || this.phase !== 'waiting' || this.startTimer !== null) return;
    if (this.starting) return;
    if (!this.registry.hasReady(this.config.minClients)) return;
    this.startTimer = setTimeout(() => {
      this.startTimer = null;
      if (this.stopped || this.paused || this.phase !== 'waiting') return;
      if (!this.registry.hasReady(this.config.minClients)) return;
      this.starting = true;
      this.startRound()
        .catch((error: unknown) => {
          this.log(
            `federation ${this.id}: round ${this.nextRound} could not start: ${(error as Error).message}`,
          );
          this.rollBack();
          this.phase = 'waiting';
        })
        .finally(() => {
          this.starting = false;
        });
    }, this.config.roundDelayMs);
  }

  /**
   * Makes every selected client's offer, then opens the round. Offers can take long (a mixture and an encoded
   * payload per client, thousands of clients), so the loop yields to the event loop every few milliseconds:
   * sockets keep answering pings meanwhile. The deadline counts from when the offers are ready.
   */
  private async startRound(): Promise<void> {
    const { config } = this;
    const round = this.nextRound;
    const ready = this.registry.ready().map((r) => r.clientId);
    const participation = Math.max(config.participation, config.minClients / ready.length);
    const selected = selectClients(ready, participation, config.seed, round, `coordinator:${this.id}`);
    const attempt = this.history.filter((r) => r.round === round).length + 1;
    const startedAt = Date.now();
    const made: { profile: ClientProfile; offer: ClientOffer; payload: Uint8Array | null }[] = [];
    let sliceStart = performance.now();
    for (const clientId of selected) {
      const record = this.registry.get(clientId)!;
      const profile: ClientProfile = { clientId, budget: record.budget!, exampleCount: record.exampleCount };
      const offer = this.strategy.offer(profile, round);
      const payload = offer.kind === 'train' ? encodeModelPayload(offer.payload, this.encodeOptions) : null;
      made.push({ profile, offer, payload });
      if (performance.now() - sliceStart > OFFER_SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        if (this.stopped) return;
        sliceStart = performance.now();
      }
    }
    const offeredAt = Date.now();
    const deadline = offeredAt + config.roundTimeoutMs;
    const offers = new Map<string, Offered>();
    for (const { profile, offer, payload } of made) {
      offers.set(profile.clientId, this.offered(profile, offer, payload, round, deadline));
    }
    const training = made.filter((m) => m.offer.kind === 'train').length;
    const open: OpenRound = {
      round,
      attempt,
      startedAt,
      offeredAt,
      deadline,
      offers,
      training,
      received: new Map(),
      timer: null,
    };
    this.open = open;
    this.phase = 'training';
    open.timer = setTimeout(() => void this.closeRound(open, 'deadline'), config.roundTimeoutMs);
    this.split?.opened({
      federation: this.id,
      round,
      attempt,
      deadline,
      snapshot: this.lastSnapshot,
      offers: [...offers].map(([clientId, o]) => ({
        clientId,
        budget: o.profile.budget,
        exampleCount: o.profile.exampleCount,
        offerId: o.offerId,
      })),
    });
    for (const [clientId, offered] of offers) this.sendOffer(clientId, offered);
    this.log(
      `federation ${this.id}: round ${round} (attempt ${attempt}) offered to ${selected.length} clients, ` +
        `deadline in ${config.roundTimeoutMs} ms`,
    );
    this.emitEvent({ type: 'round-started', round, selected, deadline });
    if (training === 0) setImmediate(() => void this.closeRound(open, 'all-received'));
  }

  /** What one client is sent: a skip, or a training offer with its plan, hyper-parameters and payload. */
  private offered(
    profile: ClientProfile,
    offer: ClientOffer,
    payload: Uint8Array | null,
    round: number,
    deadline: number,
  ): Offered {
    const { config } = this;
    if (offer.kind === 'skip') {
      const message: OfferMessage = { kind: 'skip', federation: this.id, round, reason: offer.reason };
      return { profile, offerId: null, message, payload: null, payloadBytes: 0 };
    }
    const offerId = randomBytes(9).toString('base64url');
    const { plan } = offer;
    const message: OfferMessage = {
      kind: 'train',
      federation: this.id,
      round,
      offerId,
      plan: {
        mode: plan.mode,
        rank: plan.rank,
        adapterStart: plan.adapterStart,
        maskMode: plan.maskMode,
        budget: plan.budget,
        ...(plan.scale === undefined ? {} : { scale: plan.scale }),
      },
      train: this.hyperParameters(profile.budget),
      seed: config.seed,
      precision: config.precision,
      ...(config.headPrecision === undefined ? {} : { headPrecision: config.headPrecision }),
      deadline,
      ...(offer.local ? { local: true } : {}),
    };
    return { profile, offerId, message, payload, payloadBytes: payload?.byteLength ?? 0 };
  }

  private hyperParameters(budget: number): TrainHyperParameters {
    const levers = this.config.levers[String(budget)] ?? {};
    return { ...this.config.train, ...levers };
  }

  private sendOffer(clientId: string, offered: Offered): void {
    const channel = this.channels.get(clientId);
    if (!channel) return;
    if (offered.payload === null) channel.send('offer', offered.message);
    else channel.send('offer', offered.message, offered.payload);
  }

  private resendOffer(clientId: string): void {
    const open = this.open;
    if (open === null || this.phase !== 'training' || open.received.has(clientId)) return;
    const offered = open.offers.get(clientId);
    if (offered) this.sendOffer(clientId, offered);
  }

  private async closeRound(open: OpenRound, closedBy: 'all-received' | 'deadline'): Promise<void> {
    if (this.open !== open || this.phase !== 'training' || this.stopped) return;
    this.phase = 'closing';
    if (open.timer) clearTimeout(open.timer);
    if (this.split !== null) await this.mergeShares(open);
    if (this.stopped) return;
    const { config } = this;
    const base = roundRecordBase(open, closedBy, Date.now());
    const { participants, missing } = base;
    let record: RoundRecord;
    if (participants.length >= config.minClients) {
      const summary = this.strategy.finishRound(open.round);
      this.latestModels = { round: open.round, models: summary.clusterModels };
      this.lastSnapshot = this.strategy.snapshot();
      this.nextRound = open.round + 1;
      record = {
        ...base,
        status: 'aggregated',
        memberships: Object.fromEntries([...summary.memberships].map(([id, pi]) => [id, Array.from(pi)])),
        diagnostics: { ...(summary.diagnostics ?? {}) },
      };
      for (const id of participants) {
        const client = this.registry.get(id)!;
        client.roundsIncluded++;
        client.lastRound = open.round;
      }
    } else {
      // Too few updates: nothing of this attempt is kept; the strategy goes back to the last completed round.
      this.rollBack();
      record = {
        ...base,
        status: 'failed',
        memberships: {},
        diagnostics: {},
        reason: `${participants.length} of the required ${config.minClients} updates arrived by the deadline`,
      };
    }
    this.history.push(record);
    this.open = null;
    this.log(
      `federation ${this.id}: round ${open.round} ${record.status} (${participants.length} updates, ` +
        `${missing.length} missing, closed by ${closedBy})`,
    );
    await this.checkpoint();
    await this.saveClients();
    for (const clientId of open.offers.keys()) {
      this.channels.get(clientId)?.send('round', roundNotice(this.id, record, clientId));
    }
    this.split?.closed(this.id, open.round);
    this.emitEvent({ type: 'round-closed', record });
    if (this.stopped) return;
    if (this.nextRound >= config.rounds) {
      this.phase = 'finished';
      this.emitEvent({ type: 'finished' });
      return;
    }
    this.phase = 'waiting';
    this.scheduleStart();
  }

  /**
   * Merges the members' shares of the closing round into the strategy. A remote update counts only once its
   * member's share is merged: claims of a member that did not answer (or sent a share the strategy refused)
   * are dropped from the round, as if those clients had missed the deadline.
   */
  private async mergeShares(open: OpenRound): Promise<void> {
    let shares: unknown[] = [];
    try {
      shares = await this.split!.collect(this.id, open.round);
    } catch (error) {
      this.log(
        `federation ${this.id}: round ${open.round}: collecting member shares failed: ${(error as Error).message}`,
      );
    }
    const merged = new Set<string>();
    for (const share of shares) {
      try {
        this.strategy.mergeRoundShare!(share);
        for (const id of (share as { received: string[] }).received) merged.add(id);
      } catch (error) {
        this.log(
          `federation ${this.id}: round ${open.round}: a member share was refused: ${(error as Error).message}`,
        );
      }
    }
    for (const [id, entry] of open.received) {
      if (entry.remote && !merged.has(id)) {
        open.received.delete(id);
        this.log(
          `federation ${this.id}: round ${open.round}: ${id}'s update never reached the leader; counted as missing`,
        );
      }
    }
  }

  private rollBack(): void {
    this.strategy = this.newStrategy();
    this.strategy.restore(this.lastSnapshot);
  }

  private wrongRoundReason(round: number): string {
    const closed = this.history.filter((r) => r.round === round).at(-1);
    const open = this.open;
    if (open !== null && open.round === round && this.phase === 'closing') {
      return `round ${round} is closing (its updates are being aggregated); late update refused`;
    }
    if (closed !== undefined && (open === null || open.round !== round)) {
      return (
        `round ${round} was ${closed.status === 'aggregated' ? 'aggregated' : 'closed as failed'} at ` +
        `${new Date(closed.closedAt).toISOString()} (${closed.closedBy}); late update refused`
      );
    }
    if (open === null) return `no round is open (the next is round ${this.nextRound})`;
    return `the open round is ${open.round}, not ${round}`;
  }

  // --- persistence and events ----------------------------------------------------------------------------

  private async checkpoint(): Promise<void> {
    const checkpoint: Checkpoint<RoundRecord> = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      federation: this.id,
      nextRound: this.nextRound,
      savedAt: Date.now(),
      strategy: this.lastSnapshot,
      history: this.history,
    };
    await this.store.writeCheckpoint(checkpoint);
    this.emitEvent({ type: 'checkpoint', nextRound: this.nextRound, file: this.store.checkpointFile });
  }

  private async saveClients(): Promise<void> {
    const { total, byCode } = this.refusals.summary();
    try {
      await this.store.writeClients({
        clients: this.registry.toJSON(),
        refusals: { total, byCode },
        ...(this.demo ? { demo: this.demo.toJSON() } : {}),
      });
    } catch (error) {
      this.log(`federation ${this.id}: could not save the client registry: ${(error as Error).message}`);
    }
  }

  private onRefusal(entry: RefusalEntry): void {
    this.log(
      `federation ${this.id}: refused ${entry.event} from ${entry.clientId ?? entry.socketId ?? '?'}: ` +
        `${entry.code}: ${entry.reason}`,
    );
    this.store.appendRefusal(entry).catch(() => {});
    void this.saveClients();
    this.emitEvent({ type: 'refused', entry });
  }

  private emitEvent(event: FederationEventBody): void {
    const full: FederationEvent = { federation: this.id, at: Date.now(), ...event };
    this.emit('event', full);
  }
}

/** A fresh strategy of the federation (member processes of a multi-process coordinator build theirs alike). */
export function federationStrategy(setup: FederationSetup): Strategy {
  const options = {
    ...federationStrategyOptions(setup.config),
    ...(setup.initialHead === undefined ? {} : { initialHead: setup.initialHead }),
  };
  return createStrategy(setup.config.strategy as StrategyName, setup.schema, options as never);
}
