import { describe, expect, it } from 'vitest';
import {
  type CadoPipeline,
  type CadoWhoami,
  cadoProjectName,
  classifyPipeline,
  combineOutcome,
  MAX_PROJECT_NAME_LENGTH,
  missingPermissionsFor,
  normaliseCadoBaseUrl,
  pipelineSchema,
  toPipeline,
} from '../../lambdas/shared/cado';
import { HostNotAllowedError, InputValidationError } from '../../lambdas/shared/errors';

/** Parses a pipeline body the way the client does. */
function pipeline(data: Record<string, unknown>): CadoPipeline {
  const parsed = toPipeline(pipelineSchema.parse(data), 1001);
  if (!parsed) throw new Error('no pipeline');
  return parsed;
}

const subtask = (name: string, state: string, progress_text: string[] = [], finish_time?: number) => ({
  name,
  state,
  progress_text,
  ...(finish_time === undefined ? {} : { finish_time }),
});

describe('classifyPipeline', () => {
  it('follows status when present, whatever the flags say', () => {
    expect(classifyPipeline(pipeline({ status: 'queued', terminated: false })).state).toBe('running');
    expect(classifyPipeline(pipeline({ status: 'in_progress' })).state).toBe('running');
    expect(classifyPipeline(pipeline({ status: 'In Progress' })).state).toBe('running');
    expect(classifyPipeline(pipeline({ status: 'complete', terminated: true })).state).toBe('complete');
    expect(classifyPipeline(pipeline({ status: 'cancelled', terminated: true })).state).toBe('cancelled');
    expect(classifyPipeline(pipeline({ status: 'CANCELED' })).state).toBe('cancelled');
    // status wins over a summary that would say otherwise
    expect(
      classifyPipeline(
        pipeline({ status: 'in_progress', terminated: true, summary: { failure: 1, total: 2 } }),
      ).state,
    ).toBe('running');
  });

  it('builds the failure reason from FAILURE subtasks and their progress_text', () => {
    const result = classifyPipeline(
      pipeline({
        pipeline: { id: 1001, type: 'processing' },
        status: 'failed',
        subtasks: [
          subtask('Start worker', 'SUCCESS'),
          subtask('Extract evidence', 'FAILURE', ['archive was encrypted', 'no files extracted']),
          subtask('Parse artifacts', 'CANCELLED'),
        ],
      }),
    );
    expect(result.state).toBe('failed');
    expect(result.reason).toBe(
      'Cado processing pipeline 1001 failed: Extract evidence: archive was encrypted; no files extracted',
    );
  });

  it('on legacy platforms (no status) uses terminated/aborted and the summary', () => {
    expect(classifyPipeline(pipeline({ terminated: false, summary: { running: 1, total: 3 } })).state).toBe(
      'running',
    );
    expect(
      classifyPipeline(
        pipeline({ terminated: true, summary: { total: 3, success: 3, failure: 0, cancelled: 0 } }),
      ).state,
    ).toBe('complete');
    // Cado's captured v2 pipeline: one FAILURE, twelve CANCELLED, terminated → failed, not cancelled.
    const captured = classifyPipeline(
      pipeline({
        terminated: true,
        summary: { total: 17, success: 4, failure: 1, pending: 0, running: 0, cancelled: 12 },
        subtasks: [subtask('Unzip', 'FAILURE', ['Encrypted archive'])],
      }),
    );
    expect(captured).toEqual({
      state: 'failed',
      reason: expect.stringContaining('Unzip: Encrypted archive'),
    });
    expect(classifyPipeline(pipeline({ terminated: true, summary: { total: 3, cancelled: 2 } })).state).toBe(
      'cancelled',
    );
    expect(classifyPipeline(pipeline({ aborted: true, terminated: false })).state).toBe('cancelled');
  });

  it('counts subtasks when the summary is missing, and falls back to the flags for an unknown status', () => {
    const noSummary = pipeline({
      terminated: true,
      subtasks: [subtask('a', 'SUCCESS'), subtask('b', 'failure')],
    });
    expect(noSummary.summary.failure).toBe(1);
    expect(classifyPipeline(noSummary).state).toBe('failed');
    expect(classifyPipeline(pipeline({ status: 'archiving', terminated: false })).state).toBe('running');
    expect(classifyPipeline(pipeline({ status: 'archiving', terminated: true })).state).toBe('complete');
  });

  it('keeps reasons bounded and free of credentials', () => {
    const long = 'x'.repeat(5_000);
    const result = classifyPipeline(
      pipeline({
        status: 'failed',
        subtasks: [
          subtask('Download', 'FAILURE', [`GET https://b.s3.amazonaws.com/k?X-Amz-Signature=abc123 ${long}`]),
        ],
      }),
    );
    expect(result.reason.length).toBeLessThanOrEqual(500);
    expect(result.reason).not.toContain('abc123');
  });
});

describe('combineOutcome', () => {
  const at = 1_800_000_000_000;
  const acquisition = pipeline({
    pipeline: { id: 1001, type: 'acquisition' },
    status: 'complete',
    subtasks: [subtask('Download from S3', 'SUCCESS', [], at)],
  });
  const child = (id: number, status: string, extra: Record<string, unknown> = {}) =>
    pipeline({ pipeline: { id, type: 'processing' }, status, triggering_pipeline_id: 1001, ...extra });

  it('reports the parent while it has not completed', () => {
    const failed = pipeline({ pipeline: { id: 1001, type: 'acquisition' }, status: 'failed' });
    const outcome = combineOutcome(failed, undefined, { now: at, childGraceMs: 60_000 });
    expect(outcome.state).toBe('failed');
    expect(outcome.children).toEqual([]);
  });

  it('waits for the processing child of a completed acquisition, within the grace period only', () => {
    expect(combineOutcome(acquisition, [], { now: at + 10_000, childGraceMs: 60_000 }).state).toBe('running');
    expect(combineOutcome(acquisition, [], { now: at + 60_000, childGraceMs: 60_000 }).state).toBe(
      'complete',
    );
    // v2-era subtask times are epoch seconds
    const seconds = pipeline({
      pipeline: { id: 1001, type: 'acquisition' },
      status: 'complete',
      subtasks: [subtask('Download from S3', 'SUCCESS', [], at / 1000)],
    });
    expect(combineOutcome(seconds, [], { now: at + 10_000, childGraceMs: 60_000 }).state).toBe('running');
    const processing = pipeline({ pipeline: { id: 1001, type: 'processing' }, status: 'complete' });
    expect(combineOutcome(processing, [], { now: at, childGraceMs: 60_000 }).state).toBe('complete');
  });

  it('is running while any child runs, then failed if any failed, else complete', () => {
    const opts = { now: at, childGraceMs: 0 };
    const failedChild = child(1003, 'failed', { subtasks: [subtask('Parse', 'FAILURE', ['bad hive'])] });
    expect(combineOutcome(acquisition, [child(1002, 'in_progress'), failedChild], opts).state).toBe(
      'running',
    );
    const failed = combineOutcome(acquisition, [child(1002, 'complete'), failedChild], opts);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toContain('Parse: bad hive');
    expect(failed.children.map((c) => [c.id, c.state])).toEqual([
      [1002, 'complete'],
      [1003, 'failed'],
    ]);
    expect(combineOutcome(acquisition, [child(1002, 'cancelled')], opts).state).toBe('cancelled');
    const done = combineOutcome(acquisition, [child(1002, 'complete')], opts);
    expect(done.state).toBe('complete');
    expect(done.reason).toContain('1 child pipeline completed');
  });
});

describe('cadoProjectName', () => {
  it('keeps names up to 80 characters and shortens longer ones deterministically and distinctly', () => {
    expect(cadoProjectName('  threat-1234567890123456789 ')).toBe('threat-1234567890123456789');
    const exact = 'a'.repeat(MAX_PROJECT_NAME_LENGTH);
    expect(cadoProjectName(exact)).toBe(exact);
    const a = cadoProjectName(`${'p'.repeat(90)}-one`);
    const b = cadoProjectName(`${'p'.repeat(90)}-two`);
    expect(Array.from(a)).toHaveLength(MAX_PROJECT_NAME_LENGTH);
    expect(a).toBe(cadoProjectName(`${'p'.repeat(90)}-one`));
    expect(a).not.toBe(b);
    // counted in code points, not UTF-16 units
    expect(cadoProjectName('🦊'.repeat(80))).toBe('🦊'.repeat(80));
    expect(() => cadoProjectName('   ')).toThrow(InputValidationError);
  });
});

describe('normaliseCadoBaseUrl', () => {
  it('accepts the root or the /api/v3 form and refuses what is unsafe or ambiguous', () => {
    expect(normaliseCadoBaseUrl('https://cado.example.com')).toBe('https://cado.example.com');
    expect(normaliseCadoBaseUrl('https://cado.example.com:8443/api/v3/')).toBe(
      'https://cado.example.com:8443',
    );
    expect(normaliseCadoBaseUrl('https://example.com/cado/API/V3')).toBe('https://example.com/cado');
    expect(() => normaliseCadoBaseUrl('http://cado.example.com')).toThrow(HostNotAllowedError);
    expect(() => normaliseCadoBaseUrl('http://127.0.0.1:9000')).toThrow(HostNotAllowedError);
    expect(normaliseCadoBaseUrl('http://127.0.0.1:9000/api/v3', true)).toBe('http://127.0.0.1:9000');
    expect(() => normaliseCadoBaseUrl('https://user:pw@cado.example.com')).toThrow(HostNotAllowedError);
    expect(() => normaliseCadoBaseUrl('https://cado.example.com/api/v2')).toThrow(/speaks \/api\/v3/);
    expect(() => normaliseCadoBaseUrl('https://cado.example.com/?key=x')).toThrow(InputValidationError);
    expect(() => normaliseCadoBaseUrl('not a url')).toThrow(InputValidationError);
  });
});

describe('missingPermissionsFor', () => {
  const who = (role: string, permissions: Record<string, boolean>): CadoWhoami => ({
    id: 1,
    username: 'u',
    role,
    eulaAgreed: true,
    permissions,
  });

  it('accepts either import flag and names what is missing', () => {
    const triage = who('Custom', { projects_create: true, import_data_triage: true, pipelines_read: true });
    expect(missingPermissionsFor(triage, 'handoff')).toEqual([]);
    const analyst = who('Analyst', { projects_create: false, import_data_full: true, pipelines_read: true });
    expect(missingPermissionsFor(analyst, 'handoff').map((m) => m.permission)).toEqual(['projects_create']);
    expect(missingPermissionsFor(analyst, 'import')).toEqual([]);
    const reader = who('Read Only Analyst', { pipelines_read: true });
    expect(missingPermissionsFor(reader, 'handoff').map((m) => m.permission)).toEqual([
      'projects_create',
      'import_data_full or import_data_triage',
    ]);
  });

  it('judges by role when the platform reports no flags', () => {
    expect(missingPermissionsFor(who('lead analyst', {}), 'handoff')).toEqual([]);
    expect(missingPermissionsFor(who('Analyst', {}), 'handoff').map((m) => m.permission)).toEqual([
      'projects_create',
    ]);
    expect(missingPermissionsFor({ ...who('', {}), role: undefined }, 'poll')).toHaveLength(1);
  });
});
