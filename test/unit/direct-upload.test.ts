import { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LIMITS } from '../../lambdas/shared/contract';
import {
  compareParts,
  directUploadKey,
  directUploadReason,
  partCountFor,
  presignSeconds,
  sizeBudgetBytes,
  type UploadReport,
  uploadArgument,
  withUploadArgument,
} from '../../lambdas/shared/evidence/direct-upload';
import type { AgentStart } from '../../lambdas/shared/schemas';

const MIB = 1024 * 1024;
const md5 = Buffer.alloc(16, 7).toString('base64');
const md5Hex = Buffer.alloc(16, 7).toString('hex');
const sha = 'a'.repeat(64);

function start(inputParams: string, directUpload?: boolean): AgentStart {
  return {
    investigation: {
      investigationId: 'manual-1',
      requestedBy: 't',
      startedAt: 'x',
      ...(directUpload ? { directUpload } : {}),
    },
    target: { agentId: '1', script: { inputParams } },
  } as unknown as AgentStart;
}

function report(sizes: number[]): UploadReport {
  return {
    schema: 's1cado/direct-upload@1',
    status: 'uploaded',
    package: 'x.zip',
    bytes: sizes.reduce((a, b) => a + b, 0),
    sha256: sha,
    parts: sizes.map((bytes, i) => ({ partNumber: i + 1, bytes, md5, sha256: sha, status: 200 })),
  };
}

describe('direct upload decisions', () => {
  it('goes direct when asked, for the memory profile, or over the size threshold; otherwise not', () => {
    expect(directUploadReason(start('--max-seconds 450', true), undefined)).toBe('requested');
    expect(directUploadReason(start('--profile memory'), undefined)).toBe('profile');
    expect(directUploadReason(start('--max-mb 4096'), 1024 * MIB)).toBe('size-budget');
    expect(directUploadReason(start('--max-mb 512'), 1024 * MIB)).toBeUndefined();
    expect(directUploadReason(start(''), undefined)).toBeUndefined();
    expect(sizeBudgetBytes('--max-seconds 9 --max-mb=20')).toBe(20 * MIB);
    expect(sizeBudgetBytes('')).toBe(LIMITS.collectorBudgetMiB * MIB);
  });

  it('uses few, large parts within bounds, and a lifetime of timeout plus grace capped at 12 hours', () => {
    expect(partCountFor(512 * MIB)).toBe(LIMITS.directUploadMinParts);
    expect(partCountFor(64 * 1024 * MIB)).toBe(LIMITS.directUploadMaxParts);
    expect(partCountFor(8 * 1024 * MIB)).toBe(8);
    expect(presignSeconds(3600, 600)).toBe(4200);
    expect(presignSeconds(172_800, 600)).toBe(12 * 3600);
  });

  it('refuses input parameters over the bound, naming it', () => {
    expect(withUploadArgument('--max-seconds 5', '--upload-parts x')).toBe(
      '--max-seconds 5 --upload-parts x',
    );
    expect(() => withUploadArgument('', `--upload-parts ${'x'.repeat(LIMITS.maxInputParamsChars)}`)).toThrow(
      /over the 8192/,
    );
  });

  it('keys the object under the agent’s direct folder', () => {
    expect(directUploadKey('manual-1', '42')).toBe('investigations/manual-1/42/direct/collection.zip');
  });
});

describe('compareParts', () => {
  const held = (sizes: number[], etag = `"${md5Hex}"`) =>
    sizes.map((Size, i) => ({ PartNumber: i + 1, Size, ETag: etag }));

  it('accepts exactly the reported parts', () => {
    expect(compareParts(report([5 * MIB, 10]), held([5 * MIB, 10]))).toEqual([]);
    // An SSE-KMS ETag is not the MD5: not compared.
    expect(compareParts(report([5 * MIB, 10]), held([5 * MIB, 10], '"not-an-md5"'))).toEqual([]);
  });

  it('names missing, extra, resized, too small and MD5-mismatched parts', () => {
    expect(compareParts(report([5 * MIB, 10]), held([5 * MIB]))).toContain(
      'part 2 is reported but S3 holds none',
    );
    expect(compareParts(report([5 * MIB]), held([5 * MIB, 10]))).toContain('S3 holds part 2, not reported');
    expect(compareParts(report([5 * MIB, 10]), held([5 * MIB, 11]))[0]).toMatch(/part 2: S3 holds 11 bytes/);
    expect(compareParts(report([10, 10]), held([10, 10]))).toContain(
      "part 1 is 10 bytes, under S3's 5 MiB minimum",
    );
    const other = `"${'0'.repeat(32)}"`;
    expect(compareParts(report([10]), held([10], other))[0]).toMatch(/S3's MD5 0+ is not the reported/);
  });
});

describe('the direct-upload argument', () => {
  afterEach(() => vi.useRealTimers());

  it('signs every part URL with one date, so the URLs share their base even when signing crosses seconds', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-12-06T20:59:59.600Z') });
    const s3 = new S3Client({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });
    // the clock moves 700 ms while each URL is built (a loaded Lambda signing 4 parts crosses seconds)
    s3.middlewareStack.add(
      (next) => (args) => {
        vi.advanceTimersByTime(700);
        return next(args);
      },
      { step: 'build', name: 'slowClock' },
    );
    const upload = {
      bucket: 'evidence',
      key: 'investigations/i/1/direct/collection.zip',
      uploadId: 'u-1',
      parts: 4,
      reason: 'profile' as const,
      recordKey: 'r',
      createdAt: 'x',
    };
    const argument = await uploadArgument(s3, upload, 900);
    const [flag, list] = argument.split(' ');
    expect(flag).toBe('--upload-parts');
    const [base, ...signatures] = (list as string).split(',');
    expect(signatures).toHaveLength(4);
    expect(new Set(signatures).size).toBe(4);
    const url = new URL(base as string);
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261206T205959Z');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
    expect(url.searchParams.get('uploadId')).toBe('u-1');
  });
});
