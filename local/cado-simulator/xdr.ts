/**
 * Cado's "import from XDR" for SentinelOne (lambdas/shared/cado/xdr.ts has the spec's facts): the device browse
 * `GET /api/v3/import/xdr/sentinelone` and `POST /api/v3/import/xdr`. Like the platform, the simulator reaches S1
 * itself with the account's credentials (`GET /web/api/v2.1/agents` on the account's console, `ApiToken` auth), so
 * an account holding another console's URL or a bad token fails here as it would there.
 *
 * Not simulated: the Cado Host script Cado uploads to and runs through S1 RemoteOps (the S1 simulator sees no task),
 * and the upload to Cado's own bucket: the acquisition pipeline just takes its planned time and outcome.
 */
import type { CadoBehaviour } from './behaviour';
import { invalid, type RouteResponse, requireObject, SimulatedApiError, success } from './http';
import { type CloudAccountRecord, resolveOutcome } from './model';
import type { RouteContext } from './routes';

/** How long the simulator waits for S1 (Cado's own timeout is not documented). */
const S1_TIMEOUT_MS = 10_000;

interface S1Agent {
  readonly id: string;
  readonly computerName?: string;
  readonly osType?: string;
  readonly networkStatus?: string;
  readonly lastIpToMgmt?: string;
}

function xdrAccount(context: RouteContext, name: unknown): CloudAccountRecord & { endpoint: string } {
  if (typeof name !== 'string' || name === '') invalid("'account_name' is required");
  const account = context.state.accounts.get(name);
  if (account?.type !== 'sentinelone' || !account.endpoint) {
    throw new SimulatedApiError(404, 'account_not_found', `SentinelOne account ${name} not found`);
  }
  return account as CloudAccountRecord & { endpoint: string };
}

/** `GET <console>/web/api/v2.1/agents?<query>` with the account's token; S1's refusals become Cado errors. */
async function s1Agents(
  account: CloudAccountRecord & { endpoint: string },
  query: URLSearchParams,
): Promise<S1Agent[]> {
  const url = `${account.endpoint.replace(/\/+$/, '')}/web/api/v2.1/agents?${query.toString()}`;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `ApiToken ${account.token ?? ''}`, Accept: 'application/json' },
      signal: AbortSignal.timeout(S1_TIMEOUT_MS),
    });
  } catch {
    throw new SimulatedApiError(
      502,
      'xdr_unreachable',
      `Could not reach the SentinelOne console of ${account.name}`,
    );
  }
  if (response.status === 401 || response.status === 403) {
    throw new SimulatedApiError(
      400,
      'xdr_credentials',
      `SentinelOne rejected the credentials of ${account.name}`,
    );
  }
  if (!response.ok) {
    throw new SimulatedApiError(
      502,
      'xdr_error',
      `SentinelOne answered ${response.status} for ${account.name}`,
    );
  }
  const body = (await response.json()) as { data?: S1Agent[] };
  return body.data ?? [];
}

function deviceView(agent: S1Agent): Record<string, unknown> {
  return {
    device_id: agent.id,
    hostname: agent.computerName ?? '',
    ip_address: agent.lastIpToMgmt ?? '',
    operating_system: agent.osType ?? '',
    is_online: agent.networkStatus === 'connected',
    tags: [],
  };
}

/** `GET /api/v3/import/xdr/sentinelone`: one page (the simulator never needs a cursor: `limit` 100). */
export async function browseSentinelOne(context: RouteContext): Promise<RouteResponse> {
  const account = xdrAccount(context, context.query.get('account_name'));
  const perPage = Number(context.query.get('per_page'));
  if (!Number.isInteger(perPage) || perPage < 1)
    invalid("'per_page' is required and must be a positive integer");
  const query = new URLSearchParams({ limit: String(Math.min(perPage, 100)) });
  const hostname = context.query.get('hostname');
  if (hostname) query.set('computerName', hostname);
  const os = context.query.get('os');
  if (os) query.set('osTypes', os);
  const agents = await s1Agents(account, query);
  return {
    status: 200,
    body: {
      status: 'success',
      data: agents.map(deviceView),
      pagination: { type: 'cursor', per_page: perPage },
    },
  };
}

const HOST_OPTION_FLAGS = ['light_mode', 'skip_scan', 'skip_ssl_verification', 'additional_files_only'];

function hostOptions(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) invalid("'host_options' is required");
  const options = requireObject(raw);
  const type = options.collection_type ?? 'balanced';
  if (type !== 'balanced' && type !== 'custom') invalid("'collection_type' must be one of balanced, custom");
  for (const flag of HOST_OPTION_FLAGS) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean')
      invalid(`'${flag}' must be a boolean`);
  }
  for (const list of ['groups', 'additional_files']) {
    const value = options[list];
    if (value !== undefined && (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))) {
      invalid(`'${list}' must be an array of strings`);
    }
  }
  if (type !== 'custom' && (options.groups !== undefined || options.additional_files_only === true)) {
    invalid("'groups' and 'additional_files_only' are only available with the 'custom' collection type");
  }
  return options;
}

/** `POST /api/v3/import/xdr`: checks the device through S1, then plans an acquisition and its processing. */
export async function importFromXdr(context: RouteContext): Promise<RouteResponse> {
  const { state, now } = context;
  const behaviour: CadoBehaviour = context.behaviour;
  const body = requireObject(context.body);
  const investigationId = body.investigation_id;
  if (typeof investigationId !== 'number' || !Number.isInteger(investigationId) || investigationId < 1) {
    invalid("'investigation_id' must be a positive integer");
  }
  const deviceId = body.device_id;
  if (typeof deviceId !== 'string' || deviceId === '') invalid("'device_id' is required");
  const options = hostOptions(body.host_options);
  if (!state.projects.has(investigationId)) {
    throw new SimulatedApiError(404, 'not_found', `Investigation ${investigationId} not found`);
  }
  const account = xdrAccount(context, body.account_name);
  const [agent] = await s1Agents(account, new URLSearchParams({ ids: deviceId }));
  if (!agent)
    throw new SimulatedApiError(404, 'device_not_found', `Device ${deviceId} not found in ${account.name}`);
  const record = state.createXdrImport({
    at: now,
    projectId: investigationId,
    accountName: account.name,
    deviceId,
    hostname: agent.computerName ?? deviceId,
    hostOptions: options,
    userId: context.key.userId,
    queuedMs: behaviour.timing.queuedMs,
    acquisitionMs: behaviour.timing.acquisitionMs,
    processingMs: behaviour.timing.processingMs,
    childSpawnDelayMs: behaviour.timing.childSpawnDelayMs,
    acquisition: resolveOutcome(behaviour.acquisitionOutcome, 'acquisition'),
    processing: resolveOutcome(behaviour.processingOutcome, 'processing'),
  });
  return success({ pipeline_id: record.pipelineId });
}
