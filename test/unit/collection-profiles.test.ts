/**
 * Collection profiles: custom path validation, the collector argument interface, budgets, intake rules, and the
 * config schema in step with what the Lambdas read back.
 */
import { describe, expect, it } from 'vitest';
import {
  budgetOf,
  collectorArguments,
  DEFAULT_PROFILE_SETTINGS,
  loadProfileCollectors,
  PROFILE_CONTENTS,
  PROFILE_NAMES,
  ProfileSettingsSchema,
  profileForThreat,
  profileSettingsFromEnv,
  validateCustomPaths,
} from '../../lambdas/collectors';
import { ConfigError, InputValidationError } from '../../lambdas/shared/errors';
import { workflowInputFor } from '../../lambdas/start-investigation/core';
import { loadConfig } from '../../lib/config';

const SHA = 'a'.repeat(64);
const loadConfigFrom = (extra: Record<string, unknown>) =>
  loadConfig({
    s1ConsoleUrl: 'https://usea1-acme.sentinelone.net',
    cadoUrl: 'https://cado.example.com',
    ...extra,
  });

describe('custom paths', () => {
  it('accepts absolute Linux and Windows paths and globs', () => {
    expect(validateCustomPaths(['/etc/passwd', '/var/log/*.log', 'C:\\Users\\*\\NTUSER.DAT'])).toHaveLength(
      3,
    );
    expect(validateCustomPaths(['/etc/ssh/sshd_config'], 'linux')).toEqual(['/etc/ssh/sshd_config']);
  });

  it.each([
    [[], /at least one path/],
    [['etc/passwd'], /"etc\/passwd" is relative: give an absolute path/],
    [['~/x'], /is relative/],
    [
      ['/etc/../shadow'],
      /"\/etc\/\.\.\/shadow" contains a "\." or "\.\." segment \(traversal is not allowed\)/,
    ],
    [['C:\\Windows\\..\\x'], /traversal is not allowed/],
    [['/var/./log'], /traversal is not allowed/],
    [['/tmp/a b'], /whitespace, a comma or a control character/],
    [['/tmp/a,b'], /whitespace, a comma/],
    [['/tmp/$(id)'], /a character other than/],
    [['/tmp/[ab]'], /a character other than/],
    [['/etc/x', '/etc/x'], /listed twice/],
    [[`/${'a'.repeat(300)}`], /longer than 256 characters/],
    [Array.from({ length: 33 }, (_, i) => `/f${i}`), /at most 32 paths, got 33/],
  ])('refuses %j', (paths, message) => {
    expect(() => validateCustomPaths(paths)).toThrow(InputValidationError);
    expect(() => validateCustomPaths(paths)).toThrow(message);
  });

  it('refuses a path for the other OS when the OS is known', () => {
    expect(() => validateCustomPaths(['C:\\x'], 'linux')).toThrow(/not a Linux path/);
    expect(() => validateCustomPaths(['/x'], 'windows')).toThrow(/not a Windows path/);
  });
});

describe('collector arguments', () => {
  const budget = { runtimeTimeoutSeconds: 1800, maxMb: 256, days: 3, minFreeMb: 512 };

  it('passes the profile and its budget, the script taking half the runtime', () => {
    expect(collectorArguments({ profile: 'full', osType: 'linux', budget })).toBe(
      '--profile full --max-seconds 900 --max-mb 256 --days 3 --min-free-mb 512',
    );
  });

  it('custom: the validated paths, comma-separated; memory: the tool name and hash', () => {
    expect(
      collectorArguments({ profile: 'custom', osType: 'linux', budget, customPaths: ['/a', '/b/*'] }),
    ).toMatch(/ --paths \/a,\/b\/\*$/);
    expect(
      collectorArguments({
        profile: 'memory',
        osType: 'linux',
        budget,
        memoryTool: { fileName: 'avml', sha256: SHA },
      }),
    ).toMatch(new RegExp(` --tool-name avml --tool-sha256 ${SHA}$`));
  });

  it('refuses memory without a tool, custom without (good) paths, and paths on another profile', () => {
    expect(() => collectorArguments({ profile: 'memory', osType: 'windows', budget })).toThrow(ConfigError);
    expect(() => collectorArguments({ profile: 'memory', osType: 'windows', budget })).toThrow(
      /collectionProfiles\.memoryTool\.windows/,
    );
    expect(() => collectorArguments({ profile: 'custom', osType: 'linux', budget })).toThrow(
      /at least one path/,
    );
    expect(() =>
      collectorArguments({ profile: 'custom', osType: 'linux', budget, customPaths: ['C:\\x'] }),
    ).toThrow(/not a Linux path/);
    expect(() =>
      collectorArguments({ profile: 'triage', osType: 'linux', budget, customPaths: ['/x'] }),
    ).toThrow(/only taken by the custom profile/);
  });
});

describe('budgets', () => {
  it('triage takes scriptRuntimeTimeoutSeconds; the others their own; config overrides either', () => {
    expect(budgetOf('triage', DEFAULT_PROFILE_SETTINGS, 600).runtimeTimeoutSeconds).toBe(600);
    expect(budgetOf('full', DEFAULT_PROFILE_SETTINGS, 600).runtimeTimeoutSeconds).toBe(3600);
    const settings = ProfileSettingsSchema.parse({
      budgets: { triage: { runtimeTimeoutSeconds: 1200, maxMb: 100 } },
    });
    expect(budgetOf('triage', settings, 600)).toMatchObject({
      runtimeTimeoutSeconds: 1200,
      maxMb: 100,
      days: 7,
    });
  });

  it('every profile has contents for both OSes and a summary', () => {
    for (const name of PROFILE_NAMES) {
      expect(PROFILE_CONTENTS[name].sections.linux.length).toBeGreaterThan(0);
      expect(PROFILE_CONTENTS[name].sections.windows.length).toBeGreaterThan(0);
      expect(PROFILE_CONTENTS[name].summary.length).toBeLessThan(100);
    }
  });

  it('the sections a profile declares are the sections its script runs', () => {
    for (const collector of loadProfileCollectors()) {
      const text = collector.content.toString('utf8');
      for (const section of PROFILE_CONTENTS[collector.profile].sections[collector.osType]) {
        const call = collector.osType === 'linux' ? `section ${section} ` : `Invoke-Section '${section}'`;
        expect(text, `${collector.name}: ${section}`).toContain(call);
      }
    }
  });
});

describe('intake rules', () => {
  const settings = ProfileSettingsSchema.parse({
    rules: [
      { confidenceLevels: ['malicious'], classifications: ['Ransomware'], profile: 'memory' },
      { confidenceLevels: ['malicious'], profile: 'full' },
    ],
  });

  it('the first matching rule wins, case-insensitively; no match is the default', () => {
    expect(profileForThreat({ confidenceLevel: 'malicious', classification: 'ransomware' }, settings)).toBe(
      'memory',
    );
    expect(profileForThreat({ confidenceLevel: 'Malicious', classification: 'Trojan' }, settings)).toBe(
      'full',
    );
    expect(profileForThreat({ confidenceLevel: 'suspicious', classification: 'Ransomware' }, settings)).toBe(
      'triage',
    );
    expect(profileForThreat({ confidenceLevel: null, classification: null }, settings)).toBe('triage');
  });

  it('the threat intake puts the chosen profile into the execution input', () => {
    const detail = {
      threatId: '1234567890123456789',
      agentId: '2234567890123456789',
      agentOsType: 'linux',
      computerName: 'web-1',
      siteId: '3234567890123456789',
      classification: 'Ransomware',
      confidenceLevel: 'malicious',
      threatName: 'x',
      createdAt: null,
      updatedAt: null,
      via: 'poller' as const,
    };
    expect(workflowInputFor(detail, 'e1', settings).profile).toBe('memory');
    expect(workflowInputFor({ ...detail, confidenceLevel: 'suspicious' }, 'e1', settings)).not.toHaveProperty(
      'profile',
    );
  });

  it('a rule cannot choose custom (it has no paths)', () => {
    expect(ProfileSettingsSchema.safeParse({ rules: [{ profile: 'custom' }] }).success).toBe(false);
  });
});

describe('settings from the environment', () => {
  it('reads what the stack wrote from the config, and fails clearly on a bad value', () => {
    const config = loadConfigFrom({
      collectionProfiles: {
        defaultProfile: 'full',
        memoryTool: { linux: { fileName: 'avml', sha256: SHA.toUpperCase() } },
        rules: [{ classifications: ['Ransomware'], profile: 'memory' }],
      },
    });
    const env = { COLLECTION_PROFILES: JSON.stringify(config.collectionProfiles) };
    expect(profileSettingsFromEnv(env)).toEqual({
      defaultProfile: 'full',
      budgets: {},
      memoryTool: { linux: { fileName: 'avml', sha256: SHA } },
      rules: [{ classifications: ['Ransomware'], profile: 'memory' }],
    });
    expect(profileSettingsFromEnv({})).toEqual(DEFAULT_PROFILE_SETTINGS);
    expect(() => profileSettingsFromEnv({ COLLECTION_PROFILES: '{' })).toThrow(
      /COLLECTION_PROFILES is not valid JSON/,
    );
    expect(() => profileSettingsFromEnv({ COLLECTION_PROFILES: '{"defaultProfile":"all"}' })).toThrow(
      /defaultProfile: must be one of triage, full, memory, custom/,
    );
  });

  it('the config refuses a bad tool hash and names the key', () => {
    expect(() =>
      loadConfigFrom({ collectionProfiles: { memoryTool: { linux: { fileName: 'avml', sha256: 'x' } } } }),
    ).toThrow(/collectionProfiles\.memoryTool\.linux\.sha256/);
  });
});
