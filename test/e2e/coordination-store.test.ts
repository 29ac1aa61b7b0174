/**
 * The coordination store's operations against dynalite (a DynamoDB-API server), with the table the CDK construct
 * defines: create-if-absent, versioned updates, leases with expiry, TTL as a read-time rule, and a conditional
 * write whose answer was lost (the SDK's retry must not turn our own write into "exists").
 */
import { createServer, type Server, Socket } from 'node:net';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CoordinationStore, type ItemKey } from '../../lambdas/shared/coordination/store';
import { PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE } from '../../lambdas/shared/coordination/table';
import { type LocalDynamo, startLocalCoordinationStore } from '../../local/dynamo';

const Intent = z.object({ pipelineId: z.string().nullable(), note: z.string() });
type Intent = z.infer<typeof Intent>;

let dynamo: LocalDynamo & { tableName: string };
let time = Date.UTC(2026, 11, 2, 12, 0, 0);
const now = () => time;
let store: CoordinationStore;
let counter = 0;
const key = (what: string): ItemKey => ({ pk: `test#${what}#${++counter}`, sk: what });

beforeAll(async () => {
  dynamo = await startLocalCoordinationStore();
  store = new CoordinationStore({ client: dynamo.client, tableName: dynamo.tableName, now });
});
afterAll(async () => {
  await dynamo?.close();
});

describe('putIfAbsent', () => {
  it('creates once; the second create reports the existing item instead of throwing', async () => {
    const k = key('intent');
    const first = await store.putIfAbsent<Intent>(k, { pipelineId: null, note: 'first' }, Intent);
    expect(first.status).toBe('created');
    expect(first.item.version).toBe(1);
    const second = await store.putIfAbsent<Intent>(k, { pipelineId: null, note: 'second' }, Intent);
    expect(second).toMatchObject({ status: 'exists', item: { data: { note: 'first' }, version: 1 } });
    expect((await store.get(k, Intent))?.data.note).toBe('first');
  });

  it('sets the TTL attribute, and treats an item past it as absent before DynamoDB deletes it', async () => {
    const k = key('nonce');
    const created = await store.putIfAbsent(k, { pipelineId: null, note: 'n' }, Intent, { ttlSeconds: 300 });
    expect(created.item.expiresAt).toBe(time + 300_000);
    const { Item } = await dynamo.client.send(
      new GetItemCommand({
        TableName: dynamo.tableName,
        Key: { [PARTITION_KEY]: { S: k.pk }, [SORT_KEY]: { S: k.sk } },
      }),
    );
    expect(Item?.[TTL_ATTRIBUTE]?.N).toBe(String(time / 1000 + 300));

    time += 299_000;
    expect((await store.putIfAbsent(k, { pipelineId: null, note: 'again' }, Intent)).status).toBe('exists');
    time += 1_000;
    // dynalite, like DynamoDB before its sweep, still holds the item; the store says it is gone.
    expect(await store.get(k, Intent)).toBeUndefined();
    const replaced = await store.putIfAbsent(k, { pipelineId: null, note: 'after expiry' }, Intent);
    expect(replaced).toMatchObject({ status: 'created', item: { expiresAt: undefined } });
  });

  it('refuses data its reader does not expect with CoordinationStoreError, naming no values', async () => {
    const k = key('corrupt');
    await dynamo.client.send(
      new PutItemCommand({
        TableName: dynamo.tableName,
        Item: {
          pk: { S: k.pk },
          sk: { S: k.sk },
          data: { S: '{"secret":"x"}' },
          version: { N: '1' },
          writeId: { S: 'w' },
        },
      }),
    );
    const read = store.get(k, Intent);
    await expect(read).rejects.toMatchObject({ name: 'CoordinationStoreError' });
    await expect(read).rejects.not.toThrow(/secret/);
  });
});

describe('update', () => {
  it('replaces the data only at the expected version', async () => {
    const k = key('versioned');
    await store.putIfAbsent(k, { pipelineId: null, note: 'v1' }, Intent);
    const updated = await store.update(k, { pipelineId: '42', note: 'v2' }, Intent, { expectedVersion: 1 });
    expect(updated).toMatchObject({ status: 'updated', item: { version: 2, data: { pipelineId: '42' } } });

    const stale = await store.update(k, { pipelineId: '43', note: 'lost' }, Intent, { expectedVersion: 1 });
    expect(stale).toMatchObject({ status: 'conflict', current: { version: 2, data: { pipelineId: '42' } } });
    expect((await store.get(k, Intent))?.data).toEqual({ pipelineId: '42', note: 'v2' });

    const absent = await store.update(key('none'), { pipelineId: null, note: 'x' }, Intent, {
      expectedVersion: 1,
    });
    expect(absent).toEqual({ status: 'conflict', current: undefined });
  });

  it('does not update an expired item', async () => {
    const k = key('expiring');
    await store.putIfAbsent(k, { pipelineId: null, note: 'v1' }, Intent, { ttlSeconds: 10 });
    time += 10_000;
    expect(await store.update(k, { pipelineId: '1', note: 'v2' }, Intent, { expectedVersion: 1 })).toEqual({
      status: 'conflict',
      current: undefined,
    });
  });
});

describe('remove', () => {
  it('deletes only the write it names', async () => {
    const k = key('removable');
    const created = await store.putIfAbsent(k, { pipelineId: null, note: 'mine' }, Intent);
    if (created.status !== 'created') throw new Error('not created');
    expect(await store.remove(k, 'someone-else')).toEqual({ status: 'changed' });
    expect(await store.remove(k, created.item.writeId)).toEqual({ status: 'removed' });
    expect(await store.remove(k, created.item.writeId)).toEqual({ status: 'absent' });
    expect(await store.get(k, Intent)).toBeUndefined();
  });
});

describe('leases', () => {
  it('is refused while held, renewable by its owner, and free once it lapses', async () => {
    const k = key('agent-lock');
    const a = await store.acquireLease(k, 'execution-a', 60);
    expect(a).toEqual({
      status: 'acquired',
      lease: { key: k, owner: 'execution-a', expiresAt: time + 60_000 },
    });
    const b = await store.acquireLease(k, 'execution-b', 60);
    expect(b).toEqual({ status: 'held', lease: { key: k, owner: 'execution-a', expiresAt: time + 60_000 } });

    time += 30_000;
    expect((await store.acquireLease(k, 'execution-a', 60)).status).toBe('acquired');
    time += 59_000;
    expect((await store.acquireLease(k, 'execution-b', 60)).status).toBe('held');
    time += 1_000;
    expect(await store.acquireLease(k, 'execution-b', 60)).toMatchObject({
      status: 'acquired',
      lease: { owner: 'execution-b' },
    });
    expect((await store.acquireLease(k, 'execution-a', 60)).status).toBe('held');
  });

  it('is released only by its owner', async () => {
    const k = key('agent-lock');
    await store.acquireLease(k, 'execution-a', 60);
    expect(await store.releaseLease(k, 'execution-b')).toEqual({ status: 'not-held' });
    expect((await store.acquireLease(k, 'execution-b', 60)).status).toBe('held');
    expect(await store.releaseLease(k, 'execution-a')).toEqual({ status: 'released' });
    expect((await store.acquireLease(k, 'execution-b', 60)).status).toBe('acquired');
  });
});

/** A TCP proxy to dynalite that drops the connection instead of relaying the first `dropAnswers` answers. */
async function lossyProxy(
  target: string,
  dropAnswers: number,
): Promise<{ endpoint: string; server: Server }> {
  const { hostname, port } = new URL(target);
  let toDrop = dropAnswers;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    const upstream = new Socket();
    sockets.add(upstream);
    upstream.connect(Number(port), hostname);
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (toDrop > 0) {
        // The request reached DynamoDB and was applied; its answer never comes back.
        toDrop--;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${address.port}`, server };
}

describe('a conditional write whose answer was lost', () => {
  it('is recognised as ours on the retry, not reported as "exists"', async () => {
    const proxy = await lossyProxy(dynamo.endpoint, 1);
    const client = new DynamoDBClient({ ...dynamo.clientConfig, endpoint: proxy.endpoint, maxAttempts: 3 });
    try {
      const lossy = new CoordinationStore({ client, tableName: dynamo.tableName, now });
      const k = key('lost-answer');
      const result = await lossy.putIfAbsent(k, { pipelineId: null, note: 'once' }, Intent);
      expect(result.status).toBe('created');
      // Another writer still sees it as taken.
      expect((await store.putIfAbsent(k, { pipelineId: null, note: 'other' }, Intent)).status).toBe('exists');
    } finally {
      client.destroy();
      await new Promise((resolve) => proxy.server.close(resolve));
    }
  });
});
