/**
 * Hand To Cado in collection mode `cado-xdr`: instead of importing our staged evidence, asks Cado to collect from the
 * agent itself through its SentinelOne integration (`POST /api/v3/import/xdr`, see shared/cado/xdr.ts), then hands
 * the pipeline to the same Wait For Cado ⇄ Check Cado loop. Nothing of ours runs on the endpoint and nothing is
 * staged in our bucket.
 *
 * Exactly once per investigation and agent: an XDR import runs Cado Host on the endpoint, so a second one would be a
 * second collection. As for S3 imports (core.ts), an import intent is claimed in the coordination store
 * (`xdr-import#<investigation>` / `agent#<id>`) before the call — `importing`, then `started` with the pipeline id,
 * `refused` when Cado provably did nothing, `unknown` otherwise — holding the ids of the device's pipelines that
 * already existed. An unsettled intent is reconciled by listing the project's pipelines that name the device: a new
 * one is the import and is followed. None after the settle delay (waited out in the step) does not prove nothing started (how Cado names XDR
 * evidence is not documented), so the agent ends `outcome_unknown` and the import is never sent again.
 */
import * as z from 'zod';
import { type CadoClient, DEFAULT_XDR_PROFILE, xdrHostOptions } from '../shared/cado';
import type { CoordinationStore, ItemKey, StoredItem } from '../shared/coordination/store';
import { CadoXdrAccountError, CadoXdrImportOutcomeUnknownError } from '../shared/errors';
import { logger } from '../shared/observability';
import { CADO_POLL, nextPoll } from '../shared/poll';
import type { XdrAgentStart, XdrHandedOff } from '../shared/schemas';
import type { CadoSettings, XdrSettings } from '../shared/settings';
import {
  IMPORT_INTENT_TTL_SECONDS,
  IMPORT_SETTLE_SECONDS,
  importRefused,
  importSettled,
  projectNameFor,
} from './core';

/** The XDR import intent of one agent in one investigation. */
export const XdrImportIntent = z.object({
  projectId: z.number().int(),
  state: z.enum(['importing', 'started', 'refused', 'unknown']),
  at: z.string(),
  accountName: z.string(),
  deviceId: z.string(),
  /** Pipelines naming the device that existed before the import was sent (they are not this import). */
  seenBefore: z.array(z.number().int()),
  pipelineId: z.number().int().optional(),
  outcome: z.string().optional(),
});
export type XdrImportIntent = z.infer<typeof XdrImportIntent>;

/** Where the XDR import intent of an agent lives. */
export function xdrIntentKey(investigationId: string, agentId: string): ItemKey {
  return { pk: `xdr-import#${investigationId}`, sk: `agent#${agentId}` };
}

/** Dependencies of {@link importFromXdr}. */
export interface ImportFromXdrDeps {
  readonly cado: CadoClient;
  readonly store: CoordinationStore;
  readonly settings: Pick<CadoSettings, 'projectMode' | 'projectName' | 'handoffTimeoutSeconds'>;
  readonly xdr: Pick<XdrSettings, 'accountName' | 'customFiles'>;
  readonly now: () => number;
  /** Waits out the settle delay of an unanswered import. */
  readonly sleep: (ms: number) => Promise<void>;
}

/** Cado's SentinelOne account to collect with: the configured one (which must exist), else the only one. */
export async function chooseXdrAccount(cado: CadoClient, configured: string | undefined): Promise<string> {
  const accounts = await cado.listXdrAccounts('sentinelone');
  if (configured !== undefined) {
    if (accounts.some((a) => a.name === configured)) return configured;
    throw new CadoXdrAccountError(
      `Cado has no SentinelOne account named "${configured}" (it has: ${accounts.map((a) => a.name).join(', ') || 'none'}); ` +
        'add it in Cado (Settings → Accounts → SentinelOne) or fix s1cado.cadoXdrAccountName',
    );
  }
  const only = accounts[0];
  if (accounts.length === 1 && only) return only.name;
  throw new CadoXdrAccountError(
    accounts.length === 0
      ? 'Cado has no SentinelOne account: add one in Cado (Settings → Accounts → SentinelOne, with our console URL and a token) before using collection mode cado-xdr'
      : `Cado has ${accounts.length} SentinelOne accounts (${accounts.map((a) => a.name).join(', ')}): name the one to use in s1cado.cadoXdrAccountName`,
  );
}

/** Cado's device id for the agent: the device its account lists under the agent's name whose id is the agent's. */
async function deviceFor(cado: CadoClient, accountName: string, input: XdrAgentStart): Promise<string> {
  const { agentId, agentUuid, computerName } = input.target;
  const devices = await cado.listXdrDevices(accountName, computerName);
  // UNCERTAIN whether device_id is S1's agent id or its uuid: either is accepted, nothing else.
  const device = devices.find(
    (d) => d.deviceId === agentId || (agentUuid !== '' && d.deviceId === agentUuid),
  );
  if (!device) {
    throw new CadoXdrAccountError(
      `Cado's SentinelOne account "${accountName}" does not see agent ${agentId} (${computerName}); ` +
        `it listed ${devices.length} device(s) of that name. The account may use another S1 console: run the audit`,
    );
  }
  if (!device.isOnline) logger.warn('Cado reports the device offline; importing anyway', { agentId });
  return device.deviceId;
}

/** Starts (or follows) Cado's collection from one agent through its SentinelOne integration. */
export async function importFromXdr(input: XdrAgentStart, deps: ImportFromXdrDeps): Promise<XdrHandedOff> {
  const profile = input.investigation.profile ?? DEFAULT_XDR_PROFILE;
  // A profile Cado cannot collect is refused before anything is asked of Cado.
  const hostOptions = xdrHostOptions(profile, deps.xdr.customFiles);
  const name = projectNameFor(input.investigation, deps.settings);
  const description = input.investigation.threatId
    ? `SentinelOne threat ${input.investigation.threatId}, collected by Cado through SentinelOne for s1-cado-forensics`
    : `Collected by Cado through SentinelOne for s1-cado-forensics (${input.investigation.investigationId})`;
  const project = await deps.cado.findOrCreateProject(name, description);
  const key = xdrIntentKey(input.investigation.investigationId, input.target.agentId);
  const ttl = { ttlSeconds: IMPORT_INTENT_TTL_SECONDS };
  let intent: StoredItem<XdrImportIntent> | undefined = await deps.store.get(key, XdrImportIntent);
  let started: { pipelineId: number; accountName: string; deviceId: string; reused: boolean } | undefined;

  while (!started) {
    const data = intent?.data;
    if (data?.state === 'started' && data.pipelineId !== undefined) {
      logger.info('The XDR import was started by an earlier attempt; following its pipeline', {
        pipelineId: data.pipelineId,
      });
      started = { ...data, pipelineId: data.pipelineId, reused: true };
      break;
    }
    if (intent && data && (data.state === 'importing' || data.state === 'unknown')) {
      const before = new Set(data.seenBefore);
      const found = (
        await deps.cado.listXdrImportPipelines(data.projectId, data.deviceId, input.target.computerName)
      ).find((p) => !before.has(p.id));
      if (found) {
        const settled = await deps.store.update(
          key,
          { ...data, state: 'started', pipelineId: found.id },
          XdrImportIntent,
          { ...ttl, expectedVersion: intent.version },
        );
        if (settled.status === 'conflict') {
          intent = settled.current;
          continue;
        }
        logger.warn('Found the pipeline of an XDR import whose answer was lost; following it', {
          pipelineId: found.id,
        });
        started = { ...data, pipelineId: found.id, reused: true };
        break;
      }
      if (!importSettled(data.at, deps.now())) {
        // Wait out the settle here (at most 30 s of a 2-minute task) and look once more, rather than leave it to
        // the state's jittered retries, which may run out first.
        const waitMs = Date.parse(data.at) + IMPORT_SETTLE_SECONDS * 1000 - deps.now();
        if (waitMs > 0) await deps.sleep(waitMs);
        continue;
      }
      throw new CadoXdrImportOutcomeUnknownError(
        `Cado may have started collecting from agent ${input.target.agentId} (${input.target.computerName}) through ` +
          `its SentinelOne account "${data.accountName}" at ${data.at}, but no pipeline of Cado project ${data.projectId} ` +
          'names the device: not asked again (it would collect twice). Look in Cado for the import and in the S1 ' +
          'console for a Cado Host script run on the agent',
      );
    }
    // Nothing started yet (or an earlier attempt was refused): choose the account and device, then claim.
    const accountName = await chooseXdrAccount(deps.cado, deps.xdr.accountName);
    const deviceId = await deviceFor(deps.cado, accountName, input);
    const seenBefore = (
      await deps.cado.listXdrImportPipelines(project.id, deviceId, input.target.computerName)
    ).map((p) => p.id);
    const importing: XdrImportIntent = {
      projectId: project.id,
      state: 'importing',
      at: new Date(deps.now()).toISOString(),
      accountName,
      deviceId,
      seenBefore,
    };
    const claim = intent
      ? await deps.store.update(key, importing, XdrImportIntent, { ...ttl, expectedVersion: intent.version })
      : await deps.store.putIfAbsent(key, importing, XdrImportIntent, ttl);
    if (claim.status === 'exists' || claim.status === 'conflict') {
      intent = claim.status === 'exists' ? claim.item : claim.current;
      continue;
    }
    try {
      const { pipelineId } = await deps.cado.importXdr({
        projectId: project.id,
        accountName,
        deviceId,
        hostOptions,
      });
      await deps.store
        .update(key, { ...importing, state: 'started', pipelineId }, XdrImportIntent, {
          ...ttl,
          expectedVersion: claim.item.version,
        })
        .catch((storeError: unknown) =>
          logger.error('Could not record the started XDR import', { error: storeError as Error }),
        );
      started = { pipelineId, accountName, deviceId, reused: false };
    } catch (error) {
      const refused = importRefused(error);
      const outcome = `${error instanceof Error ? error.name : 'Error'}${refused ? ' (refused)' : ' (Cado may have started the collection)'}`;
      const marked = await deps.store
        .update(key, { ...importing, state: refused ? 'refused' : 'unknown', outcome }, XdrImportIntent, {
          ...ttl,
          expectedVersion: claim.item.version,
        })
        .catch((storeError: unknown) => {
          logger.error('Could not record how the XDR import ended', { error: storeError as Error });
          return undefined;
        });
      if (refused || marked?.status !== 'updated') throw error;
      intent = marked.item;
    }
  }

  const nowMs = deps.now();
  const startedAt = new Date(nowMs).toISOString();
  const deadline = new Date(nowMs + deps.settings.handoffTimeoutSeconds * 1000).toISOString();
  logger.info('Cado asked to collect through SentinelOne', {
    projectId: project.id,
    pipelineId: started.pipelineId,
    reused: started.reused,
    agentId: input.target.agentId,
  });
  return {
    investigation: input.investigation,
    target: input.target,
    xdr: {
      collectedBy: 'cado-xdr',
      accountName: started.accountName,
      deviceId: started.deviceId,
      profile,
      collectionType: hostOptions.collection_type,
      lightMode: hostOptions.light_mode,
      reused: started.reused,
    },
    cado: {
      projectId: project.id,
      projectName: project.name,
      pipelineId: started.pipelineId,
      startedAt,
      deadline,
      phase: 'running',
    },
    poll: nextPoll(0, deadline, nowMs, CADO_POLL) ?? { attempt: 0, waitSeconds: 1, deadline },
  };
}
