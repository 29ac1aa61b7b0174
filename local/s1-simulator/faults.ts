/**
 * Fault injection. A rule matches requests (by host, method, path, token) and acts on the next `times` of
 * them: answer a status (429 storms, 5xx), delay the response, or, for downloads, break the body after N bytes
 * (`reset` destroys the connection, `truncate` ends the response short of its Content-Length), or alter one byte
 * of it (`flip`: same length, one bit changed). `expireLinks`
 * makes the storage host treat every download link as expired.
 */

/** The two origins of the simulator. */
export type SimHost = 'api' | 'storage';

/** Which requests a rule applies to; omitted fields match everything. */
export interface FaultMatch {
  host?: SimHost;
  /** HTTP method, case-insensitive. */
  method?: string;
  /**
   * A string matches the full path (`/web/api/v2.1/remote-scripts/status`) or the API route
   * (`/remote-scripts/status`) exactly; a RegExp is tested against both.
   */
  path?: string | RegExp;
  /** The API token the request carries (raw value). */
  token?: string;
}

/** What a rule does. */
export type FaultAction =
  /**
   * Answer with this status instead of handling the request. The body defaults to an S1 error envelope on the
   * API host and an S3 XML error on the storage host. `retryAfter` (seconds) adds a Retry-After header.
   */
  | { type: 'status'; status: number; retryAfter?: number; body?: unknown }
  /**
   * Handle the request (its effects happen), then answer this status instead of the result: a gateway or the
   * network losing S1's answer after S1 acted, e.g. an execute accepted then 502.
   */
  | { type: 'statusAfter'; status: number }
  /** Wait this many real milliseconds before handling the request (slow response). */
  | { type: 'delay'; ms: number }
  /** Storage downloads: send `afterBytes` body bytes, then reset the connection. */
  | { type: 'reset'; afterBytes: number }
  /** Storage downloads: send `afterBytes` body bytes, then end the response (Content-Length promised more). */
  | { type: 'truncate'; afterBytes: number }
  /**
   * Storage downloads: send the whole body with the byte at offset `at` (of the file) XOR-ed with 0x01: same
   * length, one bit changed, as an altered or corrupted stored result would be.
   */
  | { type: 'flip'; at: number };

/** A fault rule. */
export interface FaultRule {
  match?: FaultMatch;
  /** How many matching requests it affects (default: unlimited). */
  times?: number;
  action: FaultAction;
}

/** Handle of an installed rule. */
export interface FaultHandle {
  /** How many requests the rule has affected so far. */
  readonly hits: number;
  /** Whether the rule still applies (not removed, `times` not used up). */
  readonly active: boolean;
  /** Uninstalls the rule. */
  remove(): void;
}

/** What a request looks like to the fault matcher. */
export interface FaultTarget {
  host: SimHost;
  method: string;
  path: string;
  route: string;
  token: string | undefined;
}

interface InstalledRule {
  rule: FaultRule;
  hits: number;
  removed: boolean;
}

type ActionKind = FaultAction['type'];

/** The fault registry of one simulator (`sim.faults`). */
export class FaultController {
  /** When true, the storage host answers 403 "Request has expired" to every download link. */
  expireLinks = false;
  private rules: InstalledRule[] = [];

  /** Installs a rule; rules are consulted in installation order. */
  add(rule: FaultRule): FaultHandle {
    const installed: InstalledRule = { rule, hits: 0, removed: false };
    this.rules.push(installed);
    return {
      get hits() {
        return installed.hits;
      },
      get active() {
        return (
          !installed.removed && (installed.rule.times === undefined || installed.hits < installed.rule.times)
        );
      },
      remove: () => {
        installed.removed = true;
        this.rules = this.rules.filter((candidate) => candidate !== installed);
      },
    };
  }

  /** Shorthand: the next `times` matching requests answer `status` (e.g. a 429 storm or 503s). */
  respond(
    status: number,
    options: { match?: FaultMatch; times?: number; retryAfter?: number } = {},
  ): FaultHandle {
    return this.add({
      match: options.match,
      times: options.times,
      action: { type: 'status', status, retryAfter: options.retryAfter },
    });
  }

  /** Removes every rule and turns `expireLinks` off. */
  clear(): void {
    for (const installed of this.rules) installed.removed = true;
    this.rules = [];
    this.expireLinks = false;
  }

  /** Consumes every matching rule of one kind (used for delays, which add up). */
  takeAll<K extends ActionKind>(target: FaultTarget, kind: K): Extract<FaultAction, { type: K }>[] {
    return this.rules
      .filter((installed) => usable(installed, [kind], target))
      .map((installed) => {
        installed.hits++;
        return installed.rule.action as Extract<FaultAction, { type: K }>;
      });
  }

  /** Consumes the first matching rule whose action is one of `kinds` (counts against its `times`). */
  takeFirst(target: FaultTarget, kinds: readonly ActionKind[]): FaultAction | undefined {
    const installed = this.rules.find((candidate) => usable(candidate, kinds, target));
    if (!installed) return undefined;
    installed.hits++;
    return installed.rule.action;
  }
}

function usable(installed: InstalledRule, kinds: readonly ActionKind[], target: FaultTarget): boolean {
  const { rule } = installed;
  if (installed.removed || !kinds.includes(rule.action.type)) return false;
  if (rule.times !== undefined && installed.hits >= rule.times) return false;
  return matches(rule.match, target);
}

function matches(match: FaultMatch | undefined, target: FaultTarget): boolean {
  if (!match) return true;
  if (match.host && match.host !== target.host) return false;
  if (match.method && match.method.toUpperCase() !== target.method) return false;
  if (match.token !== undefined && match.token !== target.token) return false;
  if (match.path !== undefined) {
    if (typeof match.path === 'string') return match.path === target.path || match.path === target.route;
    return match.path.test(target.path) || match.path.test(target.route);
  }
  return true;
}
