import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli, until, writeConfigFile } from './helpers/cli-process';
import { BIG, FEDERATION_INPUT, SMALL, TestClient, tempDir, tinySchema } from './helpers/server-client';
import { testEnvironment } from './helpers/teardown';

/**
 * The coordinator CLI as a real child process, killed with SIGKILL in the middle of a round (no clean stop, no
 * final flush) and started again with --resume on the same data folder. The federation runs on the tiny test
 * encoder (FEDHFT_TEST_ENCODER=1), so each start takes about a second.
 */

const env = testEnvironment();

const noticeOf = (client: TestClient, round: number) => client.notices.find((n) => n.round === round);

describe('coordinator CLI: SIGKILL mid-round and --resume', () => {
  it('a killed process leaves the round-0 checkpoint intact; the restart repeats round 1 and completes it', async () => {
    await tinySchema(); // the clients train on the wasm backend
    const tmp = await tempDir();
    env.cleanup = tmp.remove;
    const dataDir = path.join(tmp.dir, 'data');
    const configFile = await writeConfigFile(path.join(tmp.dir, 'coordinator.json'), dataDir, [
      { ...FEDERATION_INPUT, adminToken: 'admin-token-0123' },
    ]);
    const args = ['--config', configFile, '--no-web'];
    const folder = path.join(dataDir, 'sentiment');
    const checkpointFile = path.join(folder, 'checkpoint.json');
    const clientsFile = path.join(folder, 'clients.json');

    // First process: round 0 completes, round 1 starts and one of its two updates is in.
    const first = await startCli(args);
    const [a, b] = await Promise.all([
      TestClient.ready(first.url, 1, BIG),
      TestClient.ready(first.url, 2, SMALL),
    ]);
    env.clients.push(a, b);
    for (const reply of await Promise.all([a.playRound(0), b.playRound(0)])) {
      expect(reply).toMatchObject({ ok: true, round: 0 });
    }
    // The round notice goes out after the checkpoint and the client registry are written.
    await until(() => noticeOf(a, 0) !== undefined && noticeOf(b, 0) !== undefined, 'the round-0 notices');
    expect(noticeOf(a, 0)).toMatchObject({ status: 'aggregated', participants: 2, included: true });
    const afterRound0 = await readFile(checkpointFile);
    const checkpoint0 = JSON.parse(afterRound0.toString('utf8'));
    expect(checkpoint0).toMatchObject({ federation: 'sentiment', nextRound: 1 });
    expect(checkpoint0.history.map((r: { round: number; status: string }) => [r.round, r.status])).toEqual([
      [0, 'aggregated'],
    ]);
    const strategy0 = JSON.stringify(checkpoint0.strategy);

    const offerA1 = await a.offerFor(1);
    await b.offerFor(1);
    expect(await a.playRound(1)).toMatchObject({ ok: true, round: 1, received: 1 });
    const identities = [a, b].map((c) => ({ clientId: c.clientId, secret: c.secret }));

    first.child.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    for (const client of env.clients) client.close();
    env.clients = [];

    // On disk: exactly the state after round 0, nothing of round 1, no half-written temporary files.
    const onDisk = await readFile(checkpointFile);
    expect(onDisk.equals(afterRound0)).toBe(true);
    const parsed = JSON.parse(onDisk.toString('utf8'));
    expect(parsed.nextRound).toBe(1);
    expect(JSON.stringify(parsed.strategy)).toBe(strategy0);
    const registry = JSON.parse(await readFile(clientsFile, 'utf8')) as {
      clients: { clientId: string }[];
    };
    expect(registry.clients.map((c) => c.clientId).sort()).toEqual(identities.map((i) => i.clientId).sort());
    expect((await readdir(folder)).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    // A start without --resume refuses to overwrite the checkpoint.
    await expect(startCli(args)).rejects.toThrow(/--resume/);

    // Second process, --resume: the clients come back with their ids and secrets and round 1 runs again.
    const second = await startCli([...args, '--resume']);
    const back = await Promise.all(
      identities.map(async ({ clientId, secret }, i) => {
        const client = await TestClient.connect(second.url, i + 1);
        env.clients.push(client);
        expect(await client.join({ clientId, secret })).toMatchObject({ ok: true, clientId, resumed: true });
        client.secret = secret;
        return client;
      }),
    );
    const [a2, b2] = back as [TestClient, TestClient];
    const repeatA1 = await a2.offerFor(1);
    await b2.offerFor(1);
    expect(repeatA1.message).toMatchObject({ kind: 'train', round: 1 });
    // A new attempt (new offer id), on a model bit-identical to the one the killed process offered.
    expect(repeatA1.message.kind === 'train' && repeatA1.message.offerId).not.toBe(
      offerA1.message.kind === 'train' && offerA1.message.offerId,
    );
    expect(Buffer.from(repeatA1.payload!).equals(Buffer.from(offerA1.payload!))).toBe(true);
    // The upload of the killed attempt is refused: its offer id is gone.
    expect(await a2.upload(offerA1, a.uploads.get(1)!)).toMatchObject({ ok: false, code: 'not-offered' });

    for (const reply of await Promise.all([a2.playRound(1), b2.playRound(1)])) {
      expect(reply).toMatchObject({ ok: true, round: 1 });
    }
    await until(() => noticeOf(a2, 1) !== undefined, 'the round-1 notice');
    expect(noticeOf(a2, 1)).toMatchObject({ status: 'aggregated', participants: 2, included: true });

    // The state advanced past round 1, recorded as its first (and only) aggregated attempt.
    const final = JSON.parse(await readFile(checkpointFile, 'utf8'));
    expect(final.nextRound).toBe(2);
    expect(
      final.history.map((r: { round: number; status: string; attempt: number }) => [
        r.round,
        r.status,
        r.attempt,
      ]),
    ).toEqual([
      [0, 'aggregated', 1],
      [1, 'aggregated', 1],
    ]);
    expect(JSON.stringify(final.strategy)).not.toBe(strategy0);
    expect(final.history[0]).toEqual(checkpoint0.history[0]);

    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 60_000);
});
