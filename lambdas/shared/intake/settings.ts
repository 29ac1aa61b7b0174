/**
 * What the three intake Lambdas read from their environment (set by the ThreatIntake construct). Each group is
 * parsed on first use; a missing or bad variable fails with a message naming it.
 */
import * as z from 'zod';
import { ENV } from '../contract';
import { envFlag, envInt, envOptionalList, parseEnv } from '../settings';
import type { ThreatFilter } from './threat-event';

const list = envOptionalList();
const int = envInt;
const flag = envFlag;

const filterSchema = z.object({
  [ENV.threatConfidenceLevels]: list,
  [ENV.threatClassifications]: list,
  [ENV.threatOsTypes]: list,
  [ENV.threatSiteIds]: list,
});

/** The threat filter (`config.threatFilter`), from `THREAT_*` comma lists; unset lists match anything. */
export function threatFilterFromEnv(): ThreatFilter {
  const env = parseEnv(filterSchema, 'threat filter');
  return {
    confidenceLevels: env[ENV.threatConfidenceLevels],
    classifications: env[ENV.threatClassifications],
    osTypes: env[ENV.threatOsTypes],
    siteIds: env[ENV.threatSiteIds],
  };
}

const pollSchema = z.object({
  [ENV.eventBusName]: z.string().min(1),
  [ENV.pollMarkParameter]: z.string().min(1),
  [ENV.pollLookbackSeconds]: int(3600, 60, 30 * 86_400),
  [ENV.pollSettleSeconds]: int(30, 0, 600),
  [ENV.pollPageSize]: int(100, 1, 1000),
  [ENV.pollMaxPages]: int(20, 1, 1000),
  [ENV.pollTimeBudgetSeconds]: int(60, 5, 840),
});

/** Settings of `poll-threats`. */
export interface PollSettings {
  readonly eventBusName: string;
  readonly markParameter: string;
  /** First run: how far back to look. */
  readonly lookbackSeconds: number;
  /** Threats updated in the last this-many seconds wait for the next run (S1 may index them late). */
  readonly settleSeconds: number;
  readonly pageSize: number;
  readonly maxPages: number;
  readonly timeBudgetSeconds: number;
  readonly filter: ThreatFilter;
}

/** Reads the poller's settings. */
export function pollSettings(): PollSettings {
  const env = parseEnv(pollSchema, 'poll-threats');
  return {
    eventBusName: env[ENV.eventBusName],
    markParameter: env[ENV.pollMarkParameter],
    lookbackSeconds: env[ENV.pollLookbackSeconds],
    settleSeconds: env[ENV.pollSettleSeconds],
    pageSize: env[ENV.pollPageSize],
    maxPages: env[ENV.pollMaxPages],
    timeBudgetSeconds: env[ENV.pollTimeBudgetSeconds],
    filter: threatFilterFromEnv(),
  };
}

const webhookSchema = z.object({
  [ENV.eventBusName]: z.string().min(1),
  [ENV.webhookSecretArn]: z.string().min(1),
  [ENV.webhookVerifyWithS1]: flag(true),
  [ENV.webhookMaxBodyBytes]: int(16_384, 256, 262_144),
  [ENV.webhookMaxSkewSeconds]: int(300, 30, 900),
});

/** Settings of `receive-webhook`. */
export interface WebhookSettings {
  readonly eventBusName: string;
  readonly secretArn: string;
  /** Re-read the threat from S1 and trust S1's facts over the caller's. */
  readonly verifyWithS1: boolean;
  readonly maxBodyBytes: number;
  readonly maxSkewSeconds: number;
}

/** Reads the webhook's settings. */
export function webhookSettings(): WebhookSettings {
  const env = parseEnv(webhookSchema, 'receive-webhook');
  return {
    eventBusName: env[ENV.eventBusName],
    secretArn: env[ENV.webhookSecretArn],
    verifyWithS1: env[ENV.webhookVerifyWithS1],
    maxBodyBytes: env[ENV.webhookMaxBodyBytes],
    maxSkewSeconds: env[ENV.webhookMaxSkewSeconds],
  };
}

const startSchema = z.object({
  [ENV.stateMachineArn]: z.string().regex(/^arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:[^:]+$/),
  [ENV.evidenceBucket]: z.string().min(3),
  [ENV.threatNote]: flag(false),
});

/** Settings of `start-investigation`. */
export interface StartSettings {
  readonly stateMachineArn: string;
  readonly evidenceBucket: string;
  /** Add an S1 threat note naming the execution (needs the S1 settings too). */
  readonly addThreatNote: boolean;
}

/** Reads start-investigation's settings. */
export function startSettings(): StartSettings {
  const env = parseEnv(startSchema, 'start-investigation');
  return {
    stateMachineArn: env[ENV.stateMachineArn],
    evidenceBucket: env[ENV.evidenceBucket],
    addThreatNote: env[ENV.threatNote],
  };
}
