/**
 * What the three intake Lambdas read from their environment (set by the ThreatIntake construct). Each group is
 * parsed on first use; a missing or bad variable fails with a message naming it.
 */
import { z } from 'zod';
import { envFlag, envInt, envOptionalList, parseEnv } from '../settings';
import type { ThreatFilter } from './threat-event';

const list = envOptionalList();
const int = envInt;
const flag = envFlag;

const filterSchema = z.object({
  THREAT_CONFIDENCE_LEVELS: list,
  THREAT_CLASSIFICATIONS: list,
  THREAT_OS_TYPES: list,
  THREAT_SITE_IDS: list,
});

/** The threat filter (`config.threatFilter`), from `THREAT_*` comma lists; unset lists match anything. */
export function threatFilterFromEnv(): ThreatFilter {
  const env = parseEnv(filterSchema, 'threat filter');
  return {
    confidenceLevels: env.THREAT_CONFIDENCE_LEVELS,
    classifications: env.THREAT_CLASSIFICATIONS,
    osTypes: env.THREAT_OS_TYPES,
    siteIds: env.THREAT_SITE_IDS,
  };
}

const pollSchema = z.object({
  EVENT_BUS_NAME: z.string().min(1),
  POLL_MARK_PARAMETER: z.string().min(1),
  POLL_LOOKBACK_SECONDS: int(3600, 60, 30 * 86_400),
  POLL_SETTLE_SECONDS: int(30, 0, 600),
  POLL_PAGE_SIZE: int(100, 1, 1000),
  POLL_MAX_PAGES: int(20, 1, 1000),
  POLL_TIME_BUDGET_SECONDS: int(60, 5, 840),
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
    eventBusName: env.EVENT_BUS_NAME,
    markParameter: env.POLL_MARK_PARAMETER,
    lookbackSeconds: env.POLL_LOOKBACK_SECONDS,
    settleSeconds: env.POLL_SETTLE_SECONDS,
    pageSize: env.POLL_PAGE_SIZE,
    maxPages: env.POLL_MAX_PAGES,
    timeBudgetSeconds: env.POLL_TIME_BUDGET_SECONDS,
    filter: threatFilterFromEnv(),
  };
}

const webhookSchema = z.object({
  EVENT_BUS_NAME: z.string().min(1),
  WEBHOOK_SECRET_ARN: z.string().min(1),
  WEBHOOK_VERIFY_WITH_S1: flag(true),
  WEBHOOK_MAX_BODY_BYTES: int(16_384, 256, 262_144),
  WEBHOOK_MAX_SKEW_SECONDS: int(300, 30, 900),
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
    eventBusName: env.EVENT_BUS_NAME,
    secretArn: env.WEBHOOK_SECRET_ARN,
    verifyWithS1: env.WEBHOOK_VERIFY_WITH_S1,
    maxBodyBytes: env.WEBHOOK_MAX_BODY_BYTES,
    maxSkewSeconds: env.WEBHOOK_MAX_SKEW_SECONDS,
  };
}

const startSchema = z.object({
  STATE_MACHINE_ARN: z.string().regex(/^arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:[^:]+$/),
  EVIDENCE_BUCKET: z.string().min(3),
  THREAT_NOTE: flag(false),
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
    stateMachineArn: env.STATE_MACHINE_ARN,
    evidenceBucket: env.EVIDENCE_BUCKET,
    addThreatNote: env.THREAT_NOTE,
  };
}
