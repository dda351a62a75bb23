import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCli, until, writeConfigFile } from './helpers/cli-process';
import { HAS_REDIS, startRedis, type RunningRedis } from './helpers/redis';
import { replayInProcess, type PlayedRound } from './helpers/replay';
import {
  BIG,
  FEDERATION_INPUT,
  SMALL,
  TestClient,
  federationConfig,
  tempDir,
  tinySchema,
} from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

/**
 * Two coordinator processes (CLI, leader and member) and one Debian redis-server on loopback, sharing clients
 * through socket.io's Redis adapter: two clients connect to the leader, two to the member. Each process folds
 * the updates it receives; the leader merges the member's share at the close. After two FedHFT rounds (the
 * second with clustering) the leader's checkpoint must equal a single process folding every update: same
 * memberships and cluster models up to float32 summation order, same per-client state exactly.
 */

if (!HAS_REDIS) {
  console.warn(
    'cluster-redis.test.ts: redis-server is not installed (apt-get install redis-server); skipped',
  );
}

const env = testEnvironment();
let redis: RunningRedis | null = null;

afterAll(async () => {
  await redis?.stop();
});

const ROUNDS = 2;

/** Float32 arrays of a base64 field (snapshot encoding). */
const floats = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
};

function expectClose(actual: number[], expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const scale = Math.max(1e-6, ...expected.map(Math.abs));
  const worst = Math.max(0, ...actual.map((x, i) => Math.abs(x - expected[i]!)));
  expect(worst / scale, what).toBeLessThan(1e-5);
}

interface SnapshotState {
  nextRound: number;
  state: {
    clusters: { deltas: Record<string, string>; head: { kernel: string; bias: string } }[];
    memberships: Record<string, number[]>;
    previousImportance: unknown;
  };
}

/**
 * A leader and a member CLI process on one federation `input` (a fresh data folder) and the test Redis (or
 * `redisUrl`); rejects when the leader does not start.
 */
async function startCluster(input: Record<string, unknown>, redisUrl?: string) {
  redis ??= await startRedis();
  const tmp = await tempDir();
  env.cleanup = tmp.remove;
  const dataDir = path.join(tmp.dir, 'data');
  const configFile = await writeConfigFile(path.join(tmp.dir, 'coordinator.json'), dataDir, [input]);
  const cluster = ['--config', configFile, '--no-web', '--redis', redisUrl ?? redis.url];
  const leader = await startCli([...cluster, '--cluster-role', 'leader']);
  const member = await startCli([...cluster, '--cluster-role', 'member']);
  return { leader, member, dataDir };
}

describe.skipIf(!HAS_REDIS)('multi-process coordinator (socket.io Redis adapter)', () => {
  it('2 coordinator processes + 1 Redis give the single-process round results', async () => {
    const schema = await tinySchema();
    const input = { ...FEDERATION_INPUT, rounds: ROUNDS, minClients: 4 };
    const { leader, member, dataDir } = await startCluster(input);
    expect(member.output()).toMatch(/member of a multi-process coordinator/);

    // a, b on the leader; c, d on the member (c and d are SMALL: budget 0.25, masked uploads).
    const plan = [
      [leader.url, BIG],
      [leader.url, SMALL],
      [member.url, SMALL],
      [member.url, BIG],
    ] as const;
    env.clients = await Promise.all(plan.map(([url, report], i) => TestClient.ready(url, i, report)));
    const onMember = new Set(env.clients.slice(2).map((c) => c.clientId));

    for (let round = 0; round < ROUNDS; round++) {
      const replies = await Promise.all(env.clients.map((c) => c.playRound(round)));
      for (const reply of replies) expect(reply).toMatchObject({ ok: true, round });
      await until(
        () => env.clients.every((c) => c.notices.some((n) => n.round === round)),
        `round ${round} notices`,
      );
      for (const client of env.clients) {
        expect(client.notices.find((n) => n.round === round)).toMatchObject({
          status: 'aggregated',
          participants: 4,
          included: true,
        });
      }
    }
    // The member's clients were offered over the adapter: their offers came from the leader's strategy.
    expect(env.clients.every((c) => c.offers.length === ROUNDS)).toBe(true);

    await until(() => /round 1 aggregated/.test(leader.output()), 'the leader to log round 1');
    const checkpoint = JSON.parse(
      await readFile(path.join(dataDir, 'sentiment', 'checkpoint.json'), 'utf8'),
    ) as {
      nextRound: number;
      strategy: SnapshotState;
      history: { selected: string[]; budgets: Record<string, number>; participants: string[] }[];
    };
    expect(checkpoint.nextRound).toBe(ROUNDS);
    const played: PlayedRound[] = checkpoint.history.map((record, round) => {
      expect([...record.participants].sort()).toEqual(env.clients.map((c) => c.clientId).sort());
      return {
        selected: record.selected,
        budgets: record.budgets,
        uploads: env.clients.map((c) => c.uploads.get(round)!),
      };
    });
    const expected = replayInProcess(federationConfig(input), schema, played) as SnapshotState;
    const actual = checkpoint.strategy;

    expect(actual.nextRound).toBe(expected.nextRound);
    expect(Object.keys(actual.state.memberships).sort()).toEqual(
      Object.keys(expected.state.memberships).sort(),
    );
    for (const [id, pi] of Object.entries(expected.state.memberships)) {
      expectClose(
        actual.state.memberships[id]!,
        pi,
        `memberships of ${onMember.has(id) ? 'member' : 'leader'} client ${id}`,
      );
    }
    expected.state.clusters.forEach((cluster, j) => {
      for (const [name, data] of Object.entries(cluster.deltas)) {
        expectClose(floats(actual.state.clusters[j]!.deltas[name]!), floats(data), `cluster ${j} ${name}`);
      }
      expectClose(
        floats(actual.state.clusters[j]!.head.kernel),
        floats(cluster.head.kernel),
        `cluster ${j} head`,
      );
      expectClose(
        floats(actual.state.clusters[j]!.head.bias),
        floats(cluster.head.bias),
        `cluster ${j} bias`,
      );
    });
    // Per-client state is not summed, so it travels exactly.
    expect(actual.state.previousImportance).toEqual(expected.state.previousImportance);
  }, 90_000);

  it('refuses to lead a federation whose rounds cannot be split, and a Redis it cannot reach', async () => {
    const dp = { clipNorm: 1, noiseMultiplier: 1, delta: 1e-5, samplingRate: 1, expectedParticipants: 2 };
    await expect(
      startCluster({ ...FEDERATION_INPUT, strategyOptions: { warmupRounds: 1, dp } }),
    ).rejects.toThrow(
      /federation sentiment: rounds cannot be split over coordinator processes: differential privacy/,
    );
    await expect(startCluster(FEDERATION_INPUT, 'redis://127.0.0.1:1')).rejects.toThrow(
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/,
    );
  }, 60_000);

  it('a member killed mid-round: its clients count as missing, the round aggregates the rest, they come back through the leader', async () => {
    const schema = await tinySchema();
    const input = { ...FEDERATION_INPUT, rounds: ROUNDS, minClients: 2 };
    const { leader, member, dataDir } = await startCluster(input);
    const urls = [leader.url, leader.url, member.url, member.url];
    env.clients = await Promise.all(
      urls.map((url, i) => TestClient.ready(url, i, i % 2 === 0 ? BIG : SMALL)),
    );
    const [a, b, c, d] = env.clients as [TestClient, TestClient, TestClient, TestClient];

    // c and d upload to the member, which folds them; then it dies before the round closes.
    for (const client of [c, d]) expect(await client.playRound(0)).toMatchObject({ ok: true, round: 0 });
    member.child.kill('SIGKILL');
    await member.exited;
    for (const client of [a, b]) expect(await client.playRound(0)).toMatchObject({ ok: true, round: 0 });
    await until(() => a.notices.some((n) => n.round === 0), 'the round-0 notice');
    expect(a.notices.find((n) => n.round === 0)).toMatchObject({ status: 'aggregated', participants: 2 });
    expect(leader.output()).toMatch(/update never reached the leader; counted as missing/);

    // c and d reconnect to the leader as themselves and take part in round 1.
    const back = await Promise.all(
      [c, d].map(async (old, i) => {
        const client = await TestClient.connect(leader.url, 2 + i);
        expect(await client.join({ clientId: old.clientId, secret: old.secret })).toMatchObject({
          ok: true,
          resumed: true,
        });
        client.clientId = old.clientId;
        client.secret = old.secret;
        return client;
      }),
    );
    env.clients.push(...back);
    for (const reply of await Promise.all([a, b, ...back].map((client) => client.playRound(1)))) {
      expect(reply).toMatchObject({ ok: true, round: 1 });
    }
    await until(() => a.notices.some((n) => n.round === 1), 'the round-1 notice');

    const checkpoint = JSON.parse(
      await readFile(path.join(dataDir, 'sentiment', 'checkpoint.json'), 'utf8'),
    ) as {
      nextRound: number;
      strategy: SnapshotState;
      history: {
        selected: string[];
        budgets: Record<string, number>;
        participants: string[];
        missing: string[];
      }[];
    };
    expect(checkpoint.history.map((r) => [...r.missing].sort())).toEqual([
      [c.clientId, d.clientId].sort(),
      [],
    ]);
    const expected = replayInProcess(federationConfig(input), schema, [
      { ...checkpoint.history[0]!, uploads: [a.uploads.get(0)!, b.uploads.get(0)!] },
      { ...checkpoint.history[1]!, uploads: [a, b, ...back].map((client) => client.uploads.get(1)!) },
    ]) as SnapshotState;
    expected.state.clusters.forEach((cluster, j) => {
      for (const [name, data] of Object.entries(cluster.deltas)) {
        expectClose(
          floats(checkpoint.strategy.state.clusters[j]!.deltas[name]!),
          floats(data),
          `cluster ${j} ${name}`,
        );
      }
    });
  }, 90_000);
});
