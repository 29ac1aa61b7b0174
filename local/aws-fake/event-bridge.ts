/**
 * EventBridge, the part threat intake uses: PutEvents on the default bus or a custom bus created with
 * {@link EventBridgeFake.createBus}. Like the service, a call that is well-formed as a whole answers 200 and reports
 * failures per entry (`FailedEntryCount`, `Entries[i].ErrorCode`); tests can make entries fail on purpose to
 * exercise a caller's retry of the failed entries only. Accepted events are kept, and listeners (standing in for
 * rules) see each one.
 */
import { randomUUID } from 'node:crypto';
import { AwsServiceError, type Operation, type RequestBody } from './protocol';

/** An event the fake accepted. */
export interface FakeEvent {
  readonly id: string;
  readonly eventBusName: string;
  readonly source: string;
  readonly detailType: string;
  /** `Detail`, parsed. */
  readonly detail: Record<string, unknown>;
  readonly resources: readonly string[];
  /** Epoch ms: the entry's `Time`, else when it was accepted. */
  readonly time: number;
}

/** Decides whether one entry fails; return an error code (e.g. `ThrottlingException`) to fail it. */
export type EntryFault = (entry: RequestBody, index: number) => string | undefined;

/** Where the fake pretends to live, and its clock. */
export interface EventBridgeFakeOptions {
  readonly region: string;
  readonly accountId: string;
  readonly clock: () => number;
}

/** Per-call request limit of PutEvents (entries, and bytes of all entries together). */
const MAX_ENTRIES = 10;
const MAX_REQUEST_BYTES = 256 * 1024;

/** In-memory EventBridge. */
export class EventBridgeFake {
  private readonly buses = new Set<string>(['default']);
  private readonly accepted: FakeEvent[] = [];
  private readonly listeners = new Set<(event: FakeEvent) => void>();
  private readonly faults: { fault: EntryFault; remaining: number }[] = [];

  constructor(private readonly opts: EventBridgeFakeOptions) {}

  /** The operations, by name, for the server's dispatcher. */
  readonly operations: Record<string, Operation> = {
    PutEvents: (body) => this.putEvents(body),
  };

  /** Test helper: creates a custom bus (idempotent) and returns its ARN. */
  createBus(name: string): string {
    this.buses.add(name);
    return this.arnOf(name);
  }

  /** The ARN of a bus. */
  arnOf(name: string): string {
    return `arn:aws:events:${this.opts.region}:${this.opts.accountId}:event-bus/${name}`;
  }

  /** Test helper: accepted events, oldest first (all buses, or one). */
  events(busName?: string): FakeEvent[] {
    return this.accepted.filter((event) => busName === undefined || event.eventBusName === busName);
  }

  /** Test helper: forgets the accepted events (buses, listeners and faults stay). */
  clearEvents(): void {
    this.accepted.length = 0;
  }

  /** Test helper: calls `listener` for every accepted event (a stand-in for a rule); returns an unsubscribe. */
  onEvent(listener: (event: FakeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Test helper: fails entries. With a number, the next `entries` entries fail with `code`; with a function,
   * entries for which it returns a code fail, for the next `times` calls of it that failed one (default: always).
   */
  failEntries(
    entries: number | EntryFault,
    code = 'InternalFailure',
    times = Number.POSITIVE_INFINITY,
  ): void {
    if (typeof entries === 'number') {
      this.faults.push({ fault: () => code, remaining: entries });
    } else {
      this.faults.push({ fault: entries, remaining: times });
    }
  }

  /** Test helper: removes every entry fault. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  private injectedFailure(entry: RequestBody, index: number): string | undefined {
    for (const slot of this.faults) {
      if (slot.remaining <= 0) continue;
      const code = slot.fault(entry, index);
      if (code !== undefined) {
        slot.remaining--;
        return code;
      }
    }
    return undefined;
  }

  private busName(value: unknown): string {
    if (value === undefined || value === null || value === '') return 'default';
    if (typeof value !== 'string')
      throw new AwsServiceError('ValidationException', 'EventBusName must be a string');
    // A bus may be named by ARN as well as by name.
    const match = /^arn:aws[a-z-]*:events:[^:]+:\d{12}:event-bus\/(.+)$/.exec(value);
    return match?.[1] ?? value;
  }

  private putEvents(body: RequestBody): Record<string, unknown> {
    const entries = body.Entries;
    if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_ENTRIES) {
      throw new AwsServiceError(
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${MAX_ENTRIES}`,
      );
    }
    if (Buffer.byteLength(JSON.stringify(entries), 'utf8') > MAX_REQUEST_BYTES) {
      throw new AwsServiceError(
        'ValidationException',
        'Total size of the entries in the request is over the limit.',
      );
    }
    const results: Record<string, unknown>[] = [];
    let failed = 0;
    entries.forEach((raw: unknown, index) => {
      const outcome = this.putOne(raw, index);
      if ('ErrorCode' in outcome) failed++;
      results.push(outcome);
    });
    return { FailedEntryCount: failed, Entries: results };
  }

  private putOne(raw: unknown, index: number): Record<string, unknown> {
    const fail = (code: string, message: string) => ({ ErrorCode: code, ErrorMessage: message });
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      return fail('InvalidArgument', 'Entry must be an object');
    }
    const entry = raw as RequestBody;
    const bus = this.busName(entry.EventBusName);
    if (!this.buses.has(bus)) {
      return fail('ResourceNotFoundException', `Event bus ${bus} does not exist.`);
    }
    for (const field of ['Source', 'DetailType', 'Detail'] as const) {
      if (typeof entry[field] !== 'string' || entry[field] === '') {
        return fail(
          'InvalidArgument',
          `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
        );
      }
    }
    if (String(entry.Source).startsWith('aws.')) {
      return fail('NotAuthorizedForSourceException', 'Not authorized for the source.');
    }
    let detail: unknown;
    try {
      detail = JSON.parse(String(entry.Detail));
    } catch {
      return fail('MalformedDetail', 'Detail is malformed.');
    }
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) {
      return fail('MalformedDetail', 'Detail is malformed.');
    }
    const injected = this.injectedFailure(entry, index);
    if (injected !== undefined) return fail(injected, `Injected failure: ${injected}`);
    const event: FakeEvent = {
      id: randomUUID(),
      eventBusName: bus,
      source: String(entry.Source),
      detailType: String(entry.DetailType),
      detail: detail as Record<string, unknown>,
      resources: Array.isArray(entry.Resources) ? entry.Resources.map(String) : [],
      time: typeof entry.Time === 'number' ? entry.Time * 1000 : this.opts.clock(),
    };
    this.accepted.push(event);
    for (const listener of this.listeners) listener(event);
    return { EventId: event.id };
  }
}
