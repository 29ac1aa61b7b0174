/**
 * End-to-end: the local stack with s3rver and dynalite in child processes (`storesInChildProcesses`, what the burst
 * bench uses). An investigation completes against them with the same evidence, Object Lock retention and
 * coordination records as in-process; the children are gone once the stack is closed, and a store child exits when
 * its parent dies without closing it.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { StoreChildError, startChildDynamo } from '../../local/child-stores';
import { REPO_ROOT } from '../../local/local-stack';
import {
  agentResult,
  type E2eStack,
  investigate,
  sha256Hex,
  startE2eStack,
  useE2eStack,
  verifiedEvidence,
} from './helpers';

/** Whether a process with this id exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Resolves true when something accepts connections at the endpoint. */
function listening(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(endpoint).port), '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('an investigation with the stores in child processes', () => {
  let stack: E2eStack;
  useE2eStack((s) => (stack = s), { storesInChildProcesses: true });

  it('completes, and its evidence, retention and coordination records are in the child stores', async () => {
    expect(stack.storePids).toHaveLength(2);
    for (const pid of stack.storePids) {
      expect(pid).not.toBe(process.pid);
      expect(alive(pid)).toBe(true);
    }
    const { linux } = stack.tenant.agents;
    const run = await investigate(stack, {
      agentIds: [linux.id],
      requestedBy: 'e2e',
      reason: 'stores in child processes',
      threatId: stack.tenant.threats.linux.id,
    });

    expect(run.failure).toBeUndefined();
    expect(run.output?.outcome).toMatchObject({ status: 'complete', errorName: null });
    const evidence = agentResult(run, linux.id).evidence;
    const { bytes, served } = await verifiedEvidence(
      stack,
      evidence?.key as string,
      evidence?.manifestKey as string,
    );
    expect(sha256Hex(bytes)).toBe(served.sha256);
    // The retention the stack sets once its configuration is read reaches the child's s3rver.
    const head = await stack.s3.client.send(
      new HeadObjectCommand({ Bucket: stack.bucket, Key: evidence?.key as string }),
    );
    expect(head.ObjectLockMode).toBe('GOVERNANCE');
    expect(head.ObjectLockRetainUntilDate?.getTime()).toBeGreaterThan(Date.now());
    // The handlers' coordination records went to the child's dynalite.
    const scan = await stack.dynamo.client.send(new ScanCommand({ TableName: stack.coordinationTable }));
    expect(scan.Count ?? 0).toBeGreaterThan(0);
  });
});

describe('closing a stack with the stores in child processes', () => {
  it('ends both children and their ports', async () => {
    const stack = await startE2eStack({ storesInChildProcesses: true, taskWatcher: false });
    const pids = [...stack.storePids];
    const endpoints = [stack.s3.endpoint, stack.dynamo.endpoint];
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    expect(await Promise.all(endpoints.map(listening))).toEqual([true, true]);

    await stack.close();

    expect(pids.map(alive)).toEqual([false, false]);
    expect(await Promise.all(endpoints.map(listening))).toEqual([false, false]);
  });
});

describe('a store child', () => {
  it('exits when its parent dies without closing it', async () => {
    const script =
      "const { startChildS3 } = require('./local/child-stores'); " +
      "startChildS3({ buckets: ['evidence'] }).then((s3) => { console.log(s3.pid); process.kill(process.pid, 'SIGKILL'); });";
    const parent = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    let out = '';
    parent.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      parent.on('exit', (_code, sig) => resolve(sig)),
    );
    expect(signal).toBe('SIGKILL');
    const pid = Number(out.trim());
    expect(Number.isInteger(pid) && pid > 0, out).toBe(true);
    // The orphan notices the closed IPC channel and closes; wait for that (bounded), then check.
    for (let i = 0; i < 200 && alive(pid); i++) await sleep(50);
    expect(alive(pid)).toBe(false);
  });

  it("that cannot start rejects with the child's own error", async () => {
    const tables = [
      { logicalId: 'Broken', input: { TableName: 'Broken', KeySchema: [], AttributeDefinitions: [] } },
    ];
    const started = startChildDynamo({ tables });
    await expect(started).rejects.toBeInstanceOf(StoreChildError);
    await expect(started).rejects.toThrow(/dynalite did not start: ValidationException/);
  });
});
