/**
 * Keeps secrets out of logs, errors, metrics and state. Three layers:
 * 1. every secret value the process loads is registered here and replaced wherever it appears;
 * 2. credential-shaped text (`ApiToken …`, `Bearer …`, presigned-URL signatures) is masked even if unregistered;
 * 3. object keys that name credentials (`authorization`, `apiToken`, `apiKey`, `token`, `password`, …) are masked.
 */

const REDACTED = '[REDACTED]';
/** Secrets shorter than this are not registered: replacing 1–3 characters everywhere would shred logs. */
const MIN_SECRET_LENGTH = 4;

const secrets = new Set<string>();

/** Registers a secret value so that {@link redact} masks it from now on (process-wide). */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value !== 'string') return;
  const trimmed = value.trim();
  if (trimmed.length >= MIN_SECRET_LENGTH) secrets.add(trimmed);
}

/** Forgets every registered secret (tests only). */
export function clearRegisteredSecrets(): void {
  secrets.clear();
}

const CREDENTIAL_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // Authorization header values ("ApiToken x", "Bearer x", "Token x"): the credential must look like one (long,
  // with a digit) so that prose such as "token expired" stays readable.
  [/\b(api-?token|bearer|token)(\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{16,}/gi, `$1$2${REDACTED}`],
  // Token or key passed as a query parameter or key=value pair.
  [/\b(apitoken|api_token|apikey|api_key|access_token|token|password)=([^&\s"']+)/gi, `$1=${REDACTED}`],
  // Presigned URL credentials (AWS SigV4, GCS, Azure SAS).
  [
    /\b(X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|sig)=([^&\s"']+)/gi,
    `$1=${REDACTED}`,
  ],
];

const SENSITIVE_KEY =
  /^(authorization|proxy-authorization|cookie|set-cookie|api-?token|api_?key|apikey|token|secret|password|secret_?key|x-api-key|downloadurl|download_url)$/i;

/** Masks registered secrets and credential-shaped text in a string. */
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  for (const [pattern, replacement] of CREDENTIAL_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** True when an object key names a credential whose value must never be shown. */
export function isSensitiveKey(key: string): boolean {
  return SENSITIVE_KEY.test(key);
}

/**
 * Returns a deep copy of `value` with sensitive keys masked and every string redacted. Cycles and depth are
 * bounded so it is safe on arbitrary error objects.
 */
export function redactDeep(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redact(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value) || depth > 12) return '[…]';
  seen.add(value);
  if (value instanceof Error) {
    return {
      name: value.name,
      message: redact(value.message),
      ...(value.cause === undefined ? {} : { cause: redactDeep(value.cause, depth + 1, seen) }),
    };
  }
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      isSensitiveKey(key) && item !== null && item !== undefined
        ? REDACTED
        : redactDeep(item, depth + 1, seen);
  }
  return out;
}

/**
 * A URL that is safe to log: scheme, host, port and path, never userinfo, query or fragment (presigned download
 * links carry their credentials in the query).
 */
export function safeUrl(url: string | URL): string {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return redact(`${parsed.protocol}//${parsed.host}${parsed.pathname}`);
  } catch {
    return '[unparseable URL]';
  }
}
