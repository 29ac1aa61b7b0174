import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ConfigError, hostAllowed, hostMatchesPattern, isLoopbackHost, loadConfig } from '../../lib/config';

const minimal = { s1ConsoleUrl: 'https://usea1-acme.sentinelone.net', cadoUrl: 'https://cado.example.com' };

/** The ConfigError thrown for `raw`, failing the test if none is. */
function problemsOf(raw: unknown): readonly string[] {
  try {
    loadConfig(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).name).toBe('ConfigError');
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

function problemFor(raw: unknown, key: string): string {
  const problems = problemsOf(raw);
  const found = problems.find((p) => p.startsWith(`${key}:`));
  if (!found) throw new Error(`no problem for ${key} in:\n${problems.join('\n')}`);
  return found;
}

describe('loadConfig defaults', () => {
  it('fills every optional key with its documented default', () => {
    const c = loadConfig(minimal);
    expect(c).toMatchObject({
      s1AllowedHosts: ['*.sentinelone.net'],
      downloadAllowedHosts: ['{region}-prod-remote-scripts-uploads.s3.{region}.amazonaws.com'],
      allowLoopback: false,
      cadoProjectMode: 'per-threat',
      threatFilter: { confidenceLevels: ['malicious'], osTypes: ['windows', 'linux'] },
      pollSchedule: 'rate(2 minutes)',
      stackName: 'S1CadoForensics',
      webhookEnabled: false,
      webhookReservedConcurrency: 10,
      stagingReservedConcurrency: 20,
      scriptRuntimeTimeoutSeconds: 900,
      taskGraceSeconds: 900,
      maxConcurrentAgents: 5,
      cadoHandoffTimeoutSeconds: 21_600,
      evidenceRetentionDays: 365,
      objectLockDays: 90,
      objectLockMode: 'GOVERNANCE',
      legalHold: 'none',
      logRetentionDays: 365,
      auditSchedule: 'cron(0 6 * * ? *)',
      tokenExpiryWarningDays: 14,
      notificationEmails: [],
    });
    expect(c.threatFilter.siteIds).toBeUndefined();
    expect(c.s1SecretArn).toBeUndefined();
  });

  it('fills threatFilter defaults inside a partial threatFilter', () => {
    const c = loadConfig({ ...minimal, threatFilter: { siteIds: ['1234567890123456789'] } });
    expect(c.threatFilter).toEqual({
      confidenceLevels: ['malicious'],
      osTypes: ['windows', 'linux'],
      siteIds: ['1234567890123456789'],
    });
  });

  it('returns a deeply frozen object with URLs reduced to their origin', () => {
    const c = loadConfig({ ...minimal, s1ConsoleUrl: 'https://usea1-acme.sentinelone.net/' });
    expect(c.s1ConsoleUrl).toBe('https://usea1-acme.sentinelone.net');
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.threatFilter)).toBe(true);
    expect(Object.isFrozen(c.threatFilter.osTypes)).toBe(true);
  });
});

describe('loadConfig errors name the key and the fix', () => {
  it('s1ConsoleUrl over http: names the allowlist and how to widen it', () => {
    expect(problemsOf({ ...minimal, s1ConsoleUrl: 'http://x' })).toEqual([
      's1cado.s1ConsoleUrl: must be an https URL on *.sentinelone.net (got "http://x"); set it in cdk.json context or widen s1cado.s1AllowedHosts',
    ]);
  });

  it('the error message carries the problems', () => {
    expect(() => loadConfig({ ...minimal, maxConcurrentAgents: 0 })).toThrow(/s1cado\.maxConcurrentAgents/);
  });

  it.each([
    [
      's1cado.s1ConsoleUrl',
      { s1ConsoleUrl: 'https://console.example.com' },
      /on \*\.sentinelone\.net.*widen s1cado\.s1AllowedHosts/,
    ],
    ['s1cado.s1ConsoleUrl', { s1ConsoleUrl: 'not a url' }, /must be an https URL/],
    [
      's1cado.s1ConsoleUrl',
      { s1ConsoleUrl: 'https://a.sentinelone.net/web/api/v2.1' },
      /root URL.*use "https:\/\/a\.sentinelone\.net"/,
    ],
    ['s1cado.cadoUrl', { cadoUrl: 'http://cado.example.com' }, /must be an https URL/],
    ['s1cado.cadoUrl', { cadoUrl: 42 }, /must be a URL string \(got 42\)/],
    ['s1cado.maxConcurrentAgents', { maxConcurrentAgents: 41 }, /between 1 and 40 \(got 41\)/],
    ['s1cado.maxConcurrentAgents', { maxConcurrentAgents: 2.5 }, /whole number/],
    ['s1cado.scriptRuntimeTimeoutSeconds', { scriptRuntimeTimeoutSeconds: 59 }, /between 60 and 172800/],
    ['s1cado.scriptRuntimeTimeoutSeconds', { scriptRuntimeTimeoutSeconds: 172_801 }, /between 60 and 172800/],
    ['s1cado.logRetentionDays', { logRetentionDays: 10 }, /CloudWatch Logs accepts: 1, 3, 5/],
    [
      's1cado.pollSchedule',
      { pollSchedule: 'every 2 minutes' },
      /rate\(2 minutes\).*eb-scheduled-rule-pattern/,
    ],
    ['s1cado.pollSchedule', { pollSchedule: 'rate(1 minutes)' }, /singular unit for 1: "rate\(1 minute\)"/],
    ['s1cado.pollSchedule', { pollSchedule: 'rate(5 minute)' }, /plural unit: "rate\(5 minutes\)"/],
    ['s1cado.auditSchedule', { auditSchedule: 'cron(0 6 * * ?)' }, /6 cron fields/],
    ['s1cado.cadoProjectMode', { cadoProjectMode: 'shared' }, /"per-threat" or "fixed"/],
    ['s1cado.cadoRoleArn', { cadoRoleArn: 'myCadoResponseRole' }, /IAM role ARN.*leave it out/],
    ['s1cado.s1SecretArn', { s1SecretArn: 'arn:aws:s3:::bucket' }, /Secrets Manager secret ARN/],
    ['s1cado.cadoCaCertificate', { cadoCaCertificate: 'MIIB...' }, /PEM/],
    [
      's1cado.notificationEmails.1',
      { notificationEmails: ['soc@example.com', 'soc'] },
      /email address \(got "soc"\)/,
    ],
    ['s1cado.threatFilter.osTypes.0', { threatFilter: { osTypes: ['macos'] } }, /"windows" or "linux"/],
    ['s1cado.threatFilter.confidenceLevels', { threatFilter: { confidenceLevels: [] } }, /must not be empty/],
    ['s1cado.threatFilter.siteIds.0', { threatFilter: { siteIds: [123] } }, /got 123/],
    ['s1cado.webhookEnabled', { webhookEnabled: 'yes' }, /true or false/],
  ])('%s: %j', (key, patch, expected) => {
    expect(problemFor({ ...minimal, ...patch }, key)).toMatch(expected);
  });

  it('rejects credentials in a URL without repeating them', () => {
    const problem = problemFor(
      { ...minimal, cadoUrl: 'https://admin:hunter2@cado.example.com' },
      's1cado.cadoUrl',
    );
    expect(problem).toMatch(/must not contain credentials.*Secrets Manager/);
    expect(problem).not.toMatch(/hunter2|admin/);
  });

  it('reports a missing required key as missing, with where to set it', () => {
    expect(problemFor({ cadoUrl: minimal.cadoUrl }, 's1cado.s1ConsoleUrl')).toMatch(
      /is missing.*set it in cdk\.json context/,
    );
  });

  it('reports a missing s1cado context as a whole', () => {
    expect(problemsOf(undefined)).toEqual([
      expect.stringMatching(/^s1cado: is missing; add an "s1cado" object/),
    ]);
  });

  it('suggests the key a typo was meant to be, at any depth', () => {
    expect(problemFor({ ...minimal, pollSchedul: 'rate(2 minutes)' }, 's1cado.pollSchedul')).toMatch(
      /unknown key; did you mean s1cado\.pollSchedule\?/,
    );
    expect(
      problemFor({ ...minimal, threatFilter: { osType: ['linux'] } }, 's1cado.threatFilter.osType'),
    ).toMatch(/did you mean s1cado\.threatFilter\.osTypes\?/);
  });

  it('lists every problem at once', () => {
    const problems = problemsOf({ ...minimal, maxConcurrentAgents: 0, logRetentionDays: 2, extra: true });
    expect(problems).toHaveLength(3);
  });

  it('requires cadoProjectName in fixed mode, and only then', () => {
    expect(problemFor({ ...minimal, cadoProjectMode: 'fixed' }, 's1cado.cadoProjectName')).toMatch(
      /required when s1cado\.cadoProjectMode is "fixed".*per-threat/,
    );
    expect(loadConfig({ ...minimal, cadoProjectMode: 'fixed', cadoProjectName: 's1' }).cadoProjectName).toBe(
      's1',
    );
    expect(loadConfig(minimal).cadoProjectName).toBeUndefined();
  });

  it('takes a stack name CloudFormation accepts, from the context or -c s1cado.stackName', () => {
    expect(loadConfig({ ...minimal, stackName: 'S1CadoForensics-Test2' }).stackName).toBe(
      'S1CadoForensics-Test2',
    );
    const app = new App({ context: { s1cado: minimal, 's1cado.stackName': 'SecondStack' } });
    expect(loadConfig(app.node).stackName).toBe('SecondStack');
    for (const bad of ['2ndStack', 'my_stack', 'a'.repeat(129), '']) {
      expect(problemFor({ ...minimal, stackName: bad }, 's1cado.stackName')).toContain(
        'must be a CloudFormation stack name',
      );
    }
  });

  it('keeps Object Lock within the retention period', () => {
    expect(problemFor({ ...minimal, evidenceRetentionDays: 30 }, 's1cado.objectLockDays')).toMatch(
      /must not exceed s1cado\.evidenceRetentionDays \(30\).*lower objectLockDays or raise evidenceRetentionDays/,
    );
    expect(loadConfig({ ...minimal, evidenceRetentionDays: 30, objectLockDays: 30 }).objectLockDays).toBe(30);
  });

  it('takes the Object Lock mode, the legal hold and a break-glass role ARN, and refuses anything else', () => {
    const c = loadConfig({
      ...minimal,
      objectLockMode: 'COMPLIANCE',
      legalHold: 'on-threat',
      breakGlassRoleArn: 'arn:aws:iam::123456789012:role/break-glass',
    });
    expect([c.objectLockMode, c.legalHold, c.breakGlassRoleArn]).toEqual([
      'COMPLIANCE',
      'on-threat',
      'arn:aws:iam::123456789012:role/break-glass',
    ]);
    expect(problemFor({ ...minimal, objectLockMode: 'governance' }, 's1cado.objectLockMode')).toMatch(
      /must be "GOVERNANCE" or "COMPLIANCE"/,
    );
    expect(problemFor({ ...minimal, legalHold: 'yes' }, 's1cado.legalHold')).toMatch(
      /"none", "on-threat" or "always"/,
    );
    expect(
      problemFor(
        { ...minimal, breakGlassRoleArn: 'arn:aws:iam::123456789012:user/x' },
        's1cado.breakGlassRoleArn',
      ),
    ).toMatch(/must be an IAM role ARN/);
  });

  it("keeps the staging reservation at least as large as one investigation's agents", () => {
    expect(
      problemFor(
        { ...minimal, maxConcurrentAgents: 12, stagingReservedConcurrency: 8 },
        's1cado.stagingReservedConcurrency',
      ),
    ).toMatch(
      /at least s1cado\.maxConcurrentAgents \(12\).*raise stagingReservedConcurrency or lower maxConcurrentAgents/,
    );
    expect(
      loadConfig({ ...minimal, maxConcurrentAgents: 12, stagingReservedConcurrency: 12 })
        .stagingReservedConcurrency,
    ).toBe(12);
    expect(
      problemFor({ ...minimal, webhookReservedConcurrency: 0 }, 's1cado.webhookReservedConcurrency'),
    ).toBeTruthy();
  });
});

describe('host allowlists', () => {
  it('"*.x.y" matches subdomains at any depth but not x.y itself', () => {
    expect(hostMatchesPattern('a.sentinelone.net', '*.sentinelone.net')).toBe(true);
    expect(hostMatchesPattern('usea1.a.SentinelOne.net', '*.sentinelone.net')).toBe(true);
    expect(hostMatchesPattern('sentinelone.net', '*.sentinelone.net')).toBe(false);
    expect(hostMatchesPattern('evilsentinelone.net', '*.sentinelone.net')).toBe(false);
    expect(hostMatchesPattern('a.sentinelone.net.evil.com', '*.sentinelone.net')).toBe(false);
  });

  it('an exact entry matches only that host', () => {
    expect(hostAllowed('s3.amazonaws.com', ['s3.amazonaws.com'])).toBe(true);
    expect(hostAllowed('x.s3.amazonaws.com', ['s3.amazonaws.com'])).toBe(false);
  });

  it('a widened allowlist admits the console host', () => {
    const c = loadConfig({
      ...minimal,
      s1ConsoleUrl: 'https://s1.corp.example',
      s1AllowedHosts: ['*.sentinelone.net', 's1.corp.example'],
    });
    expect(c.s1ConsoleUrl).toBe('https://s1.corp.example');
  });

  it('rejects a wildcard over a whole top-level domain and a bare "*"', () => {
    expect(
      problemFor({ ...minimal, downloadAllowedHosts: ['*.com'] }, 's1cado.downloadAllowedHosts.0'),
    ).toMatch(/at least two labels/);
    expect(problemFor({ ...minimal, s1AllowedHosts: ['*'] }, 's1cado.s1AllowedHosts.0')).toMatch(/host name/);
  });

  it('takes {region} patterns, but not mixed with a wildcard', () => {
    const hosts = ['{region}-bucket.s3.{region}.amazonaws.com', 'downloads.example.com'];
    expect(loadConfig({ ...minimal, downloadAllowedHosts: hosts }).downloadAllowedHosts).toEqual(hosts);
    expect(
      problemFor(
        { ...minimal, downloadAllowedHosts: ['*.s3.{region}.amazonaws.com'] },
        's1cado.downloadAllowedHosts.0',
      ),
    ).toMatch(/\{region\} for an AWS region/);
  });

  it('rejects an empty allowlist', () => {
    expect(problemFor({ ...minimal, downloadAllowedHosts: [] }, 's1cado.downloadAllowedHosts')).toMatch(
      /must not be empty/,
    );
  });

  it('refuses loopback hosts unless allowLoopback is set', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('127.example.com')).toBe(false);
    expect(problemFor({ ...minimal, s1ConsoleUrl: 'https://127.0.0.1:8443' }, 's1cado.s1ConsoleUrl')).toMatch(
      /loopback.*set s1cado\.allowLoopback to true/,
    );
    expect(
      problemFor({ ...minimal, downloadAllowedHosts: ['127.0.0.1'] }, 's1cado.downloadAllowedHosts.0'),
    ).toMatch(/loopback.*allowLoopback/);
  });

  it('with allowLoopback, accepts http URLs on loopback for a local run', () => {
    const c = loadConfig({
      s1ConsoleUrl: 'http://127.0.0.1:9100',
      cadoUrl: 'http://localhost:9200',
      downloadAllowedHosts: ['127.0.0.1'],
      allowLoopback: true,
    });
    expect(c.s1ConsoleUrl).toBe('http://127.0.0.1:9100');
    expect(c.cadoUrl).toBe('http://localhost:9200');
    // Loopback does not relax the rules for real hosts.
    expect(
      problemFor({ ...minimal, allowLoopback: true, cadoUrl: 'http://cado.example.com' }, 's1cado.cadoUrl'),
    ).toMatch(/https/);
  });
});

describe('loadConfig from the CDK context', () => {
  it('reads the s1cado key of a node', () => {
    const app = new App({ context: { s1cado: { ...minimal, maxConcurrentAgents: 7 } } });
    expect(loadConfig(app.node).maxConcurrentAgents).toBe(7);
    expect(loadConfig(app).maxConcurrentAgents).toBe(7);
  });

  it('applies -c s1cado.<key.path>=<value> overrides, parsing JSON values', () => {
    const app = new App({
      context: {
        s1cado: minimal,
        's1cado.maxConcurrentAgents': '10',
        's1cado.threatFilter.osTypes': '["linux"]',
        's1cado.cadoUrl': 'https://cado2.example.com',
      },
    });
    const c = loadConfig(app.node);
    expect(c.maxConcurrentAgents).toBe(10);
    expect(c.threatFilter.osTypes).toEqual(['linux']);
    expect(c.cadoUrl).toBe('https://cado2.example.com');
  });

  it("accepts the whole object as a JSON string (-c s1cado='{...}')", () => {
    const app = new App({ context: { s1cado: JSON.stringify(minimal) } });
    expect(loadConfig(app.node).cadoUrl).toBe('https://cado.example.com');
  });

  it('fails with the same message style when the context is wrong', () => {
    const app = new App({ context: { s1cado: { ...minimal, s1ConsoleUrl: 'http://x' } } });
    expect(() => loadConfig(app.node)).toThrow(ConfigError);
  });
});

describe('maxResultBytes', () => {
  it('defaults to twice the collectors’ size budget and takes a value in range', () => {
    expect(loadConfig(minimal).maxResultBytes).toBe(1024 * 1024 * 1024);
    expect(loadConfig({ ...minimal, maxResultBytes: 5 * 1024 ** 3 }).maxResultBytes).toBe(5 * 1024 ** 3);
  });

  it('refuses a cap below 1 MiB or above 500 GiB, naming the key', () => {
    expect(problemFor({ ...minimal, maxResultBytes: 1000 }, 's1cado.maxResultBytes')).toMatch(/between/);
    expect(problemFor({ ...minimal, maxResultBytes: 4 * 1000 ** 4 }, 's1cado.maxResultBytes')).toMatch(
      /between/,
    );
  });
});
