/**
 * The one source of time for handlers, clients and the local simulators.
 *
 * In AWS this is plain wall-clock time. Local runs (tests, `npm run demo`, `npm run bench`) may dilate
 * time so that a 10-minute collection plays out in seconds: with `S1CADO_TIME_SCALE=60`, one real second
 * is one simulated minute for every participant that reads this clock (handlers computing deadlines, the
 * S1 and Cado simulators moving tasks along, HTTP retry sleeps). The deployed stack never sets these
 * variables, so production time is never scaled.
 */

/** Multiplier applied to elapsed real time; 1 unless a local run sets `S1CADO_TIME_SCALE`. */
export function timeScale(): number {
  const raw = process.env.S1CADO_TIME_SCALE;
  if (!raw) return 1;
  const scale = Number(raw);
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new RangeError(`S1CADO_TIME_SCALE must be a positive number, got "${raw}"`);
  }
  return scale;
}

function timeOrigin(): number {
  const raw = process.env.S1CADO_TIME_ORIGIN;
  const origin = raw ? Number(raw) : Number.NaN;
  return Number.isFinite(origin) ? origin : Date.now();
}

/** Current time in epoch milliseconds (dilated in local runs, see the module comment). */
export function now(): number {
  const scale = timeScale();
  if (scale === 1) return Date.now();
  const origin = timeOrigin();
  return Math.round(origin + (Date.now() - origin) * scale);
}

/** Current time as an ISO-8601 string. */
export function nowIso(): string {
  return new Date(now()).toISOString();
}

/** Sleeps for `ms` of clock time (shorter in real time when time is dilated). Aborts with the signal. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  const realMs = Math.max(0, ms / timeScale());
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, realMs);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Enables dilated time for this process (local runs only). Returns a function that restores the previous
 * settings. Child participants that read the same environment see the same clock.
 */
export function useTimeScale(scale: number, origin = Date.now()): () => void {
  const previous = { scale: process.env.S1CADO_TIME_SCALE, origin: process.env.S1CADO_TIME_ORIGIN };
  process.env.S1CADO_TIME_SCALE = String(scale);
  process.env.S1CADO_TIME_ORIGIN = String(origin);
  return () => {
    restore('S1CADO_TIME_SCALE', previous.scale);
    restore('S1CADO_TIME_ORIGIN', previous.origin);
  };
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
