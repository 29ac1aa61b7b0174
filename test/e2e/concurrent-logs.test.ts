/**
 * Handlers running at the same time in the local runtime (a Map's agents, a Parallel's branches) each log with their
 * own Lambda context and keys, as in Lambda's multi-concurrency environments: the real `stepHandler` and the
 * process-wide Powertools logger, two functions whose invocations overlap.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import type { AslDefinition } from '../../local/asl/definition';
import type { ExtractedFunction } from '../../local/asl/extract';
import { createLocalStateMachine } from '../../local/asl/runner';

function fn(step: string, functionName: string): ExtractedFunction {
  return {
    logicalId: functionName,
    arn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    functionName,
    step,
    environment: {},
    unresolvedEnvironment: [],
    timeoutSeconds: 30,
    memorySize: 128,
  };
}

const slow = fn('slow-step', 'SlowFunction');
const quick = fn('quick-step', 'QuickFunction');

const definition: AslDefinition = {
  StartAt: 'Both',
  States: {
    Both: {
      Type: 'Parallel',
      End: true,
      Branches: [
        { StartAt: 'Slow', States: { Slow: { Type: 'Task', Resource: slow.arn, End: true } } },
        { StartAt: 'Quick', States: { Quick: { Type: 'Task', Resource: quick.arn, End: true } } },
      ],
    },
  },
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('local runtime: concurrent handlers log as themselves', () => {
  it('keeps each invocation’s function name, step and investigation on its own log lines', async () => {
    // Development mode makes the logger write through the global console, which the test can read.
    process.env.POWERTOOLS_DEV = 'true';
    const { stepHandler } = await import('../../lambdas/shared/handler');
    const { logger } = await import('../../lambdas/shared/observability');
    const lines: Record<string, unknown>[] = [];
    vi.spyOn(console, 'warn').mockImplementation((text: unknown) => {
      lines.push(JSON.parse(String(text)) as Record<string, unknown>);
    });
    let quickStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      quickStarted = resolve;
    });
    const Input = z.object({ investigation: z.object({ investigationId: z.string() }) });
    const handlers = {
      // Logs only after the quick handler has started (and set its own context and keys).
      'slow-step': stepHandler('slow-step', Input, async () => {
        await started;
        logger.warn('slow handler done');
        return { ok: true };
      }),
      'quick-step': stepHandler('quick-step', Input, async () => {
        quickStarted();
        logger.warn('quick handler done');
        return { ok: true };
      }),
    };
    const machine = createLocalStateMachine(definition, {
      functions: new Map([slow, quick].map((f) => [f.arn, f])),
      handlers,
      validate: false,
    });
    try {
      await machine.run({ investigation: { investigationId: 'threat-42' } }, { executionName: 'threat-42' })
        .result;
    } finally {
      machine.dispose();
    }
    const slowLine = lines.find((line) => line.message === 'slow handler done');
    const quickLine = lines.find((line) => line.message === 'quick handler done');
    expect(slowLine).toMatchObject({
      function_name: 'SlowFunction',
      step: 'slow-step',
      investigationId: 'threat-42',
    });
    expect(quickLine).toMatchObject({ function_name: 'QuickFunction', step: 'quick-step' });
    expect(slowLine?.function_request_id).not.toBe(quickLine?.function_request_id);
  });
});
