/**
 * Fault injection for the Cado simulator: rules that answer matching requests with an error status (429 with
 * or without Retry-After, 5xx, an HTML page from a "load balancer"), slow them down or reset the connection,
 * and a platform-wide "down" switch (every request 503, or the listener closed so connections are refused).
 *
 * Faults apply before authentication and routing, like a proxy in front of the platform would.
 */

/** What a fault rule sees of a request. */
export interface FaultRequest {
  readonly method: string;
  /** Path without the query string, e.g. `/api/v3/pipelines/1001`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON body, or undefined. */
  readonly body: unknown;
}

/**
 * A fault rule. Matchers that are left out match everything. Without `status` and `reset` the rule only
 * delays (`delayMs`) and the request then proceeds normally.
 */
export interface FaultRule {
  /** HTTP method, case-insensitive. */
  readonly method?: string;
  /** A string matches the exact path; a RegExp is tested against the path. */
  readonly path?: string | RegExp;
  /** Extra predicate, e.g. on the body. */
  readonly when?: (request: FaultRequest) => boolean;
  /** Let the first `skip` matching requests through untouched (default 0). */
  readonly skip?: number;
  /** How many matching requests the rule acts on (after `skip`); default unlimited. */
  readonly times?: number;
  /** Real milliseconds to wait before acting (simulated time does not apply: this tests client timeouts). */
  readonly delayMs?: number;
  /** Answer with this status. */
  readonly status?: number;
  /** `Retry-After` header value (seconds, or an HTTP date string). */
  readonly retryAfter?: number | string;
  /** Response body: a string is sent as `text/html`, anything else as JSON. Default: the v3 error envelope. */
  readonly body?: unknown;
  /** Destroy the connection instead of answering. */
  readonly reset?: boolean;
  /**
   * Handle the request first (its effects happen: an import starts its pipeline), then answer `status` or reset:
   * a proxy losing the platform's answer, e.g. an import accepted then 502.
   */
  readonly afterHandling?: boolean;
}

/** A live rule: how often it matched and acted; `remove()` retires it. */
export interface FaultHandle {
  readonly rule: FaultRule;
  /** Matching requests seen (including skipped ones). */
  readonly matched: number;
  /** Requests the rule acted on. */
  readonly fired: number;
  /** Actions left (Infinity when unlimited). */
  readonly remaining: number;
  remove(): void;
}

/** How the platform is down: answering 503 to everything, or not accepting connections at all. */
export type DownMode = 'unavailable' | 'refuse';

/** Hooks the server gives the controller to stop and restart its listener. */
export interface ListenerControl {
  stop(): Promise<void>;
  start(): Promise<void>;
}

class Rule implements FaultHandle {
  matched = 0;
  fired = 0;

  constructor(
    readonly rule: FaultRule,
    private readonly onRemove: (rule: Rule) => void,
  ) {}

  get remaining(): number {
    return (this.rule.times ?? Number.POSITIVE_INFINITY) - this.fired;
  }

  matches(request: FaultRequest): boolean {
    const { method, path, when } = this.rule;
    if (this.remaining <= 0) return false;
    if (method !== undefined && method.toUpperCase() !== request.method.toUpperCase()) return false;
    if (typeof path === 'string' && path !== request.path) return false;
    if (path instanceof RegExp && !path.test(request.path)) return false;
    return when === undefined || when(request);
  }

  remove(): void {
    this.onRemove(this);
  }
}

/** Fault injection controls (`sim.faults`). */
export class FaultController {
  private rules: Rule[] = [];
  private downMode: DownMode | undefined;

  /** @param listener lets `down('refuse')` close and reopen the server's listener. */
  constructor(private readonly listener: ListenerControl) {}

  /** Adds a rule; rules are tried in the order they were added and the first match acts. */
  add(rule: FaultRule): FaultHandle {
    const handle = new Rule(rule, (r) => {
      this.rules = this.rules.filter((x) => x !== r);
    });
    this.rules.push(handle);
    return handle;
  }

  /** Shorthand: the next `times` requests matching `match` get `status` (e.g. 429 with `retryAfter`). */
  respond(status: number, match: Omit<FaultRule, 'status'> = {}): FaultHandle {
    return this.add({ ...match, status });
  }

  /** Removes every rule and brings the platform back up. */
  async clear(): Promise<void> {
    this.rules = [];
    await this.up();
  }

  /** Takes the platform down until {@link up}. */
  async down(mode: DownMode = 'unavailable'): Promise<void> {
    if (this.downMode === 'refuse') await this.listener.start();
    this.downMode = mode;
    if (mode === 'refuse') await this.listener.stop();
  }

  /** Brings the platform back up (the listener reopens on the same port). */
  async up(): Promise<void> {
    if (this.downMode === 'refuse') await this.listener.start();
    this.downMode = undefined;
  }

  /** The current down mode, if any. */
  get isDown(): DownMode | undefined {
    return this.downMode;
  }

  /** The rule that acts on this request, counting the match (server use). */
  take(request: FaultRequest): FaultRule | undefined {
    for (const rule of this.rules) {
      if (!rule.matches(request)) continue;
      rule.matched += 1;
      if (rule.matched <= (rule.rule.skip ?? 0)) continue;
      rule.fired += 1;
      return rule.rule;
    }
    return undefined;
  }
}
