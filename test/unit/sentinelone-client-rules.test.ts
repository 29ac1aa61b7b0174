/**
 * The SentinelOne client's pure rules: task status classification, console URL and download URL checks, and the
 * input checks that must refuse before any request could be sent.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, HostNotAllowedError, InputValidationError } from '../../lambdas/shared/errors';
import type { CredentialSource } from '../../lambdas/shared/http';
import {
  allTerminal,
  assertDownloadUrl,
  classifyTaskStatus,
  createS1Client,
  type S1Site,
  s1ApiBaseUrl,
  siteHasModule,
  taskRowSchema,
} from '../../lambdas/shared/sentinelone';

const POLICY = { allowedHosts: ['*.sentinelone.net'], allowLoopback: false };

/** A credential that fails the test if any request is attempted. */
const noRequests: CredentialSource = {
  authorization: () => Promise.reject(new Error('no request may be sent')),
  refresh: () => Promise.reject(new Error('no request may be sent')),
};

function row(status: string, extra: Record<string, unknown> = {}) {
  return taskRowSchema.parse({
    id: '1913920934584665209',
    parentTaskId: '2400882434589841516',
    status,
    ...extra,
  });
}

describe('classifyTaskStatus', () => {
  it.each([
    ['created', 'running'],
    ['scheduled', 'running'],
    ['pending', 'running'],
    ['pending_user_action', 'running'],
    ['in_progress', 'running'],
    ['partially_completed', 'running'],
    ['failed', 'failed'],
    ['expired', 'expired'],
    ['canceled', 'canceled'],
  ] as const)('%s → %s', (status, outcome) => {
    const result = classifyTaskStatus(row(status));
    expect(result.outcome).toBe(outcome);
    expect(result.terminal).toBe(outcome !== 'running');
    expect(result.reason).toContain(status);
  });

  it('completed successfully → succeeded', () => {
    const result = classifyTaskStatus(
      row('completed', { detailedStatus: 'Execution completed successfully', statusCode: null }),
    );
    expect(result).toMatchObject({ outcome: 'succeeded', terminal: true });
  });

  it('completed with a failure detailedStatus → failed, quoting S1', () => {
    const result = classifyTaskStatus(
      row('completed', { detailedStatus: 'The execution terminated in failure' }),
    );
    expect(result.outcome).toBe('failed');
    expect(result.reason).toContain('The execution terminated in failure');
  });

  it('a negated failure word ("no errors") does not turn a completed task into a failure', () => {
    expect(classifyTaskStatus(row('completed', { detailedStatus: 'Completed with no errors' })).outcome).toBe(
      'succeeded',
    );
    expect(classifyTaskStatus(row('completed', { detailedStatus: 'Script error: exit 1' })).outcome).toBe(
      'failed',
    );
  });

  it('completed with a non-zero statusCode (number or numeric string) → failed; zero → succeeded', () => {
    expect(classifyTaskStatus(row('completed', { statusCode: '2' })).outcome).toBe('failed');
    expect(classifyTaskStatus(row('completed', { statusCode: 137 })).outcome).toBe('failed');
    expect(classifyTaskStatus(row('completed', { statusCode: '0' })).outcome).toBe('succeeded');
  });

  it('an unknown status is terminal "unknown", never running or succeeded', () => {
    const result = classifyTaskStatus(row('quarantined_by_alien_policy'));
    expect(result).toMatchObject({ outcome: 'unknown', terminal: true });
    expect(result.reason).toMatch(/treating it as a failure/);
  });

  it('allTerminal is false for an empty list (rows lag the execute call) and while any row runs', () => {
    expect(allTerminal([])).toBe(false);
    expect(allTerminal([row('completed'), row('in_progress')])).toBe(false);
    expect(allTerminal([row('completed'), row('expired')])).toBe(true);
  });
});

describe('task row schema', () => {
  it('keeps unknown fields, ids as strings, and accepts a non-string statusDescription', () => {
    const parsed = row('completed', { statusDescription: { text: 'Completed' }, newField: 1 });
    expect(parsed.id).toBe('1913920934584665209');
    expect(parsed.statusDescription).toEqual({ text: 'Completed' });
    expect(parsed.newField).toBe(1);
  });

  it('refuses an id that arrived as a number too large to be exact', () => {
    // What JSON.parse makes of an unquoted 19-digit id.
    const parsed: unknown = JSON.parse('{"id":1913920934584665209,"status":"completed"}');
    expect(() => taskRowSchema.parse(parsed)).toThrow(/too large/);
  });
});

describe('console URL', () => {
  it.each([
    'https://usea1-acme.sentinelone.net',
    'https://usea1-acme.sentinelone.net/',
    'https://usea1-acme.sentinelone.net/web/api/v2.1',
    'https://usea1-acme.sentinelone.net/web/api/v2.1/',
  ])('accepts %s', (url) => {
    expect(s1ApiBaseUrl(url, POLICY)).toBe('https://usea1-acme.sentinelone.net/web/api/v2.1');
  });

  it('refuses http, hosts off the allowlist and loopback unless enabled', () => {
    expect(() => s1ApiBaseUrl('http://usea1-acme.sentinelone.net', POLICY)).toThrow(HostNotAllowedError);
    expect(() => s1ApiBaseUrl('https://sentinelone.net.evil.example', POLICY)).toThrow(HostNotAllowedError);
    expect(() => s1ApiBaseUrl('http://127.0.0.1:8080', POLICY)).toThrow(HostNotAllowedError);
    expect(s1ApiBaseUrl('http://127.0.0.1:8080', { ...POLICY, allowLoopback: true })).toBe(
      'http://127.0.0.1:8080/web/api/v2.1',
    );
  });

  it('refuses a URL that is not the console root', () => {
    expect(() => s1ApiBaseUrl('https://x.sentinelone.net/web/api/v2.0', POLICY)).toThrow(ConfigError);
    expect(() => s1ApiBaseUrl('https://x.sentinelone.net/?APIToken=abc', POLICY)).toThrow(ConfigError);
  });

  it('createS1Client validates the URL with the default allowlist', () => {
    expect(() => createS1Client({ consoleUrl: 'https://example.com', credentials: noRequests })).toThrow(
      HostNotAllowedError,
    );
    expect(
      createS1Client({ consoleUrl: 'https://t.sentinelone.net/', credentials: noRequests }).apiBaseUrl,
    ).toBe('https://t.sentinelone.net/web/api/v2.1');
  });
});

describe('assertDownloadUrl', () => {
  const presigned =
    'https://eu-central-1-prod-remote-scripts-uploads.s3.eu-central-1.amazonaws.com/rso-results/abc?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
    '&X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=deadbeefcafe1234';

  it('accepts an https presigned S3 link by default', () => {
    expect(assertDownloadUrl(presigned).hostname).toBe(
      'eu-central-1-prod-remote-scripts-uploads.s3.eu-central-1.amazonaws.com',
    );
  });

  it('refuses other hosts, http and loopback, without echoing the signature', () => {
    for (const url of [
      presigned.replace('amazonaws.com', 'evil.example'),
      presigned.replace('https:', 'http:'),
      'http://127.0.0.1:9000/rso-results/abc?X-Amz-Signature=deadbeefcafe1234',
    ]) {
      const error = catchError(() => assertDownloadUrl(url));
      expect(error).toBeInstanceOf(HostNotAllowedError);
      expect(error.message).not.toContain('deadbeefcafe1234');
    }
    expect(assertDownloadUrl('http://127.0.0.1:9000/x', { allowLoopback: true }).port).toBe('9000');
  });
});

describe('input checks (nothing is sent)', () => {
  const client = createS1Client({ consoleUrl: 'https://t.sentinelone.net', credentials: noRequests });

  it('refuses empty id lists everywhere an empty filter would mean "everything"', async () => {
    await expect(client.getAgents([])).rejects.toThrow(InputValidationError);
    await expect(client.getThreats([])).rejects.toThrow(InputValidationError);
    await expect(client.addThreatNote([], 'note')).rejects.toThrow(InputValidationError);
    await expect(client.fetchFiles([])).rejects.toThrow(InputValidationError);
    await expect(client.cancelTasks({})).rejects.toThrow(InputValidationError);
    await expect(client.cancelTasks({ childTaskIds: [] })).rejects.toThrow(InputValidationError);
    await expect(
      client.execute({ agentIds: [], scriptId: '1466645477667595729', taskDescription: 'x' }),
    ).rejects.toThrow(/execute: agentIds: at least one id is required/);
  });

  it('refuses ids that are not decimal strings (a comma would widen the filter)', async () => {
    await expect(
      client.execute({
        agentIds: ['1913920934584665209,1'],
        scriptId: '1466645477667595729',
        taskDescription: 'x',
      }),
    ).rejects.toThrow(InputValidationError);
    await expect(client.getTaskStatus('')).rejects.toThrow(InputValidationError);
    await expect(client.getRole('../users')).rejects.toThrow(InputValidationError);
  });

  it('checks execute and upload options', async () => {
    const base = { agentIds: ['1913920934584665209'], scriptId: '1466645477667595729', taskDescription: 't' };
    await expect(client.execute({ ...base, taskDescription: '  ' })).rejects.toThrow(InputValidationError);
    await expect(client.execute({ ...base, runtimeTimeoutSeconds: 0 })).rejects.toThrow(InputValidationError);
    const upload = {
      content: Buffer.from('echo hi\n'),
      fileName: 'hi.sh',
      scriptName: 'hi',
      scriptType: 'dataCollection' as const,
      osTypes: ['linux' as const],
    };
    await expect(client.uploadScript({ ...upload, scopeLevel: 'site' })).rejects.toThrow(/scopeId/);
    await expect(client.uploadScript({ ...upload, scopeLevel: 'global', scopeId: '1' })).rejects.toThrow(
      InputValidationError,
    );
    await expect(
      client.uploadScript({ ...upload, scopeLevel: 'global', fileName: '../hi.sh' }),
    ).rejects.toThrow(InputValidationError);
    await expect(client.uploadScript({ ...upload, scopeLevel: 'global', osTypes: [] })).rejects.toThrow(
      InputValidationError,
    );
  });

  it('checks threat query bounds', () => {
    expect(() => client.listThreatPages({ createdAfter: 'yesterday' })).toThrow(InputValidationError);
    expect(() =>
      client.listThreatPages({ createdAfter: '2025-01-01T00:00:00Z', updatedAfter: '2025-01-01T00:00:00Z' }),
    ).toThrow(InputValidationError);
    expect(() => client.listThreatPages({ limit: 1001 })).toThrow(InputValidationError);
  });
});

describe('siteHasModule', () => {
  it('finds the rso licence module, case-insensitively', () => {
    const site = { id: '1', licenses: { modules: [{ name: 'RSO' }] } } as S1Site;
    expect(siteHasModule(site)).toBe(true);
    expect(siteHasModule({ id: '1', licenses: { modules: [] } } as S1Site)).toBe(false);
    expect(siteHasModule({ id: '1' } as S1Site)).toBe(false);
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
