/**
 * Cado's webhooks, as the platform documents them (docs.cadosecurity.com, Integrations → Webhooks; the API's
 * `POST /api/v3/webhooks`): a webhook is a name, a URL, one event type and a custom payload, a JSON template that
 * must contain `$Title` and `$Event`. When the event happens Cado POSTs the template with the two substituted. There
 * is no signature, no custom header and no pipeline id beyond what `$Event`'s text says.
 *
 * Events modelled: `processing_finished` (a processing pipeline completed) and `processing_failed` (a pipeline
 * failed). `processing_with_alarms` is accepted but never sent (the simulator raises no alarms); a cancelled pipeline
 * sends nothing. UNCERTAIN (not documented): the exact `$Title`/`$Event` texts, whether Cado escapes `$Event` for
 * JSON (here it does, so the body stays JSON), and whether a failed delivery is retried (here: once, no retry).
 *
 * Pipelines never run on timers (model.ts), so deliveries come from a watcher that looks, every few real
 * milliseconds while any webhook exists, for pipelines that ended since it last looked.
 */
import { invalid, type RouteResponse, requireObject, success } from './http';
import { type CadoState, type PipelineRecord, pipelineSnapshot } from './model';

/** Event types Cado's webhooks accept (the ones about pipelines). */
export const WEBHOOK_EVENT_TYPES = [
  'processing_finished',
  'processing_failed',
  'processing_with_alarms',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** A registered webhook. */
export interface WebhookRecord {
  readonly id: number;
  readonly name: string;
  readonly url: string;
  readonly eventType: WebhookEventType;
  readonly payloadType: 'custom';
  /** The template, as text. */
  readonly payload: string;
  /** Simulated epoch ms. */
  readonly created: number;
}

/** One delivery attempt (tests assert on these). */
export interface WebhookDelivery {
  readonly webhookId: number;
  readonly eventType: WebhookEventType;
  readonly pipelineId: number;
  readonly projectId: number;
  /** Simulated epoch ms when it was sent. */
  readonly at: number;
  readonly body: string;
  /** HTTP status of the answer; 0 when the request failed (refused, timed out). */
  status: number;
  /** The answer's body (Cado keeps none; tests read what the receiver said). */
  response?: string;
}

/** The text inside a JSON string for `text` (what substituting into `"...$Event..."` keeps valid). */
function jsonEscaped(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/** The payload of `record` for one event, with `$Title` and `$Event` substituted. */
export function renderPayload(template: string, title: string, event: string): string {
  return template.replaceAll('$Title', jsonEscaped(title)).replaceAll('$Event', jsonEscaped(event));
}

/** The event a pipeline's end is, if any. */
function eventOf(pipeline: PipelineRecord, status: string): WebhookEventType | undefined {
  if (status === 'failed') return 'processing_failed';
  if (status === 'complete' && pipeline.type === 'processing') return 'processing_finished';
  return undefined;
}

/** Registered webhooks, their deliveries, and the watcher that sends them. */
export class CadoWebhooks {
  readonly records: WebhookRecord[] = [];
  readonly deliveries: WebhookDelivery[] = [];
  /** Pipelines whose end was already seen (sent or not worth an event). */
  private readonly seen = new Set<number>();
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Deliveries are suspended (a network problem between Cado and the receiver): events are dropped. */
  dropDeliveries = false;

  constructor(
    private readonly state: () => CadoState,
    private readonly clock: () => number,
  ) {}

  /** `POST /api/v3/webhooks`. */
  create(raw: unknown, now: number): RouteResponse {
    const body = requireObject(raw);
    const name = body.name;
    if (typeof name !== 'string' || name.trim() === '') invalid("'name' is required");
    const url = body.url;
    if (typeof url !== 'string' || !/^https?:\/\/[^\s]+$/.test(url)) invalid("'url' must be an http(s) URL");
    const eventType = body.event_type;
    if (typeof eventType !== 'string' || !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(eventType))
      invalid(`'event_type' must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}`);
    if (body.payload_type !== 'custom') invalid('\'payload_type\' must be "custom"');
    const payload = typeof body.payload === 'string' ? body.payload : JSON.stringify(body.payload ?? null);
    if (!payload.includes('$Title') || !payload.includes('$Event'))
      invalid("'payload' must contain $Title and $Event");
    try {
      JSON.parse(payload);
    } catch {
      invalid("'payload' must be a valid JSON object");
    }
    const record: WebhookRecord = {
      id: this.nextId++,
      name,
      url,
      eventType: eventType as WebhookEventType,
      payloadType: 'custom',
      payload,
      created: now,
    };
    // Only what ends from now on is sent.
    for (const pipeline of this.state().pipelines.values()) {
      if (pipelineSnapshot(pipeline, now).terminal) this.seen.add(pipeline.id);
    }
    this.records.push(record);
    this.start();
    return success(this.view(record), 201);
  }

  /** `GET /api/v3/webhooks`. */
  list(): RouteResponse {
    return success(this.records.map((r) => this.view(r)));
  }

  private view(record: WebhookRecord) {
    return {
      id: record.id,
      name: record.name,
      url: record.url,
      event_type: record.eventType,
      payload_type: record.payloadType,
      payload: record.payload,
    };
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), 20);
    this.timer.unref();
  }

  /** Sends the events of pipelines that ended since the last look. */
  tick(): void {
    const state = this.state();
    const now = this.clock();
    for (const pipeline of state.pipelines.values()) {
      if (this.seen.has(pipeline.id)) continue;
      const snapshot = pipelineSnapshot(pipeline, now);
      if (!snapshot.terminal) continue;
      this.seen.add(pipeline.id);
      const eventType = eventOf(pipeline, snapshot.status);
      if (!eventType) continue;
      const project = state.projects.get(pipeline.projectId);
      const title = eventType === 'processing_finished' ? 'PROCESSING FINISHED' : 'PROCESSING FAILED';
      const event =
        `${pipeline.name} (pipeline ${pipeline.id}) in project "${project?.name ?? pipeline.projectId}" ` +
        (eventType === 'processing_finished' ? 'finished processing' : 'failed');
      for (const record of this.records) {
        if (record.eventType !== eventType) continue;
        this.deliver(record, eventType, pipeline, renderPayload(record.payload, title, event), now);
      }
    }
  }

  private deliver(
    record: WebhookRecord,
    eventType: WebhookEventType,
    pipeline: PipelineRecord,
    body: string,
    at: number,
  ): void {
    const delivery: WebhookDelivery = {
      webhookId: record.id,
      eventType,
      pipelineId: pipeline.id,
      projectId: pipeline.projectId,
      at,
      body,
      status: 0,
    };
    this.deliveries.push(delivery);
    if (this.dropDeliveries) return;
    const sent = fetch(record.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(10_000),
    })
      .then(async (response) => {
        delivery.status = response.status;
        delivery.response = await response.text().catch(() => undefined);
      })
      .catch(() => {
        delivery.status = 0;
      })
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }

  /** Stops sending and waits for deliveries in flight. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.inFlight]);
  }
}
