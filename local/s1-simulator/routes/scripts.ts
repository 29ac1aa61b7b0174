/**
 * The script library: `GET /remote-scripts`, `POST /remote-scripts` (multipart upload, validated the way the
 * console validates it), `DELETE /remote-scripts` and `GET /remote-scripts/script-content`.
 */
import { createHash } from 'node:crypto';
import type { Route, RouteContext, SimRuntime } from '../context';
import {
  ApiError,
  bodyIds,
  checkId,
  insufficientPermissions,
  isoMicros,
  type JsonObject,
  paginate,
  requireObject,
  sortItems,
  validationError,
} from '../http-util';
import type { OsType, Script, ScriptType, User } from '../types';

/** Script types in their exact API casing. */
export const SCRIPT_TYPES: readonly ScriptType[] = ['action', 'artifactCollection', 'dataCollection'];
const OS_TYPES: readonly OsType[] = ['windows', 'linux', 'macos'];
const SCOPE_LEVELS = ['site', 'account', 'global'] as const;
const MAX_RUNTIME_SECONDS = 172_800;

function scopeName(sim: SimRuntime, script: Script): string {
  if (script.scopeLevel === 'global') return 'Global';
  if (script.scopeLevel === 'account') return sim.state.accounts.get(script.scopeId ?? '')?.name ?? 'Unknown';
  return sim.state.sites.get(script.scopeId ?? '')?.name ?? 'Unknown';
}

/** The script as the library lists it (§2.1 of the reference). */
export function renderScript(sim: SimRuntime, script: Script): JsonObject {
  return {
    id: script.id,
    scriptName: script.scriptName,
    scriptType: script.scriptType,
    scriptDescription: script.scriptDescription,
    osTypes: script.osTypes,
    inputRequired: script.inputRequired,
    inputExample: script.inputExample,
    inputInstructions: script.inputInstructions,
    scriptRuntimeTimeoutSeconds: script.scriptRuntimeTimeoutSeconds,
    scopeLevel: script.scopeLevel,
    scopeId: script.scopeId,
    scopeName: scopeName(sim, script),
    creator: script.creator,
    creatorId: script.creatorId,
    createdByUserId: script.creatorId,
    createdByUser: script.creator,
    updater: null,
    updaterId: null,
    createdAt: isoMicros(script.createdAt),
    updatedAt: isoMicros(script.updatedAt),
    version: script.version,
    fileName: `scripts/${script.id}/${script.fileName}`,
    shortFileName: script.fileName,
    fileSize: script.content.length,
    bucketName: 'rso-scripts',
    signature: script.signature,
    signatureType: script.signatureType,
    supportedDestinations: ['SentinelCloud', 'Local', 'None'],
    outputFilePaths: null,
    isAvailableForArs: false,
    isAvailableForLite: false,
    requiresApproval: false,
    nameKey: null,
    package: null,
  };
}

/** Whether the script can be used at the given site (global, the site's account, or the site itself). */
function availableAtSite(sim: SimRuntime, script: Script, siteId: string): boolean {
  if (script.scopeLevel === 'global') return true;
  if (script.scopeLevel === 'site') return script.scopeId === siteId;
  return sim.state.sites.get(siteId)?.accountId === script.scopeId;
}

/** The script if it exists and the user may see it, else 404 `Script not found`. */
export function findScript(sim: SimRuntime, user: User, id: unknown): Script {
  const script = typeof id === 'string' ? sim.state.scripts.get(id) : undefined;
  if (!script || !sim.state.canSeeScript(user, script)) {
    throw new ApiError(404, 4100010, 'Resource not found', 'Script not found');
  }
  return script;
}

function requiredField(fields: Record<string, string>, name: string): string {
  const value = fields[name];
  if (value === undefined || value.trim() === '')
    throw validationError(`${name}: Missing data for required field.`);
  return value.trim();
}

function booleanField(fields: Record<string, string>, name: string, required: boolean): boolean | undefined {
  const value = fields[name];
  if (value === undefined) {
    if (required) throw validationError(`${name}: Missing data for required field.`);
    return undefined;
  }
  if (value === 'true' || value === 'True') return true;
  if (value === 'false' || value === 'False') return false;
  throw validationError(`${name}: Not a valid boolean.`);
}

/** Validates an upload's scope against the user's own scope (site users only create scripts in their site). */
function checkUploadScope(
  sim: SimRuntime,
  user: User,
  level: Script['scopeLevel'],
  scopeId: string | null,
): void {
  if (level === 'site') {
    if (!scopeId || !sim.state.sites.has(scopeId)) throw validationError('scopeId: Site not found.');
    if (!sim.state.canSeeSite(user, scopeId))
      throw insufficientPermissions('The script scope is outside your scope');
  } else if (level === 'account') {
    if (!scopeId || !sim.state.accounts.has(scopeId)) throw validationError('scopeId: Account not found.');
    if (user.scope === 'site' || (user.scope === 'account' && user.scopeId !== scopeId)) {
      throw insufficientPermissions('The script scope is outside your scope');
    }
  } else if (user.scope !== 'tenant') {
    throw insufficientPermissions('Only global users can upload global scripts');
  }
}

function upload(ctx: RouteContext): unknown {
  const { sim, form } = ctx;
  const user = ctx.requireUser();
  if (!form) throw validationError('Expected a multipart/form-data body.');
  const { fields } = form;
  const scriptName = requiredField(fields, 'scriptName');
  if (scriptName.length > 255) throw validationError('scriptName: Longer than maximum length 255.');
  const scriptType = requiredField(fields, 'scriptType');
  if (!(SCRIPT_TYPES as readonly string[]).includes(scriptType)) {
    throw validationError(`scriptType: Must be one of: ${SCRIPT_TYPES.join(', ')}.`);
  }
  const osTypes = requiredField(fields, 'osTypes')
    .split(',')
    .map((os) => os.trim());
  osTypes.forEach((os, index) => {
    if (!(OS_TYPES as readonly string[]).includes(os)) {
      throw validationError(`osTypes: ${index}: Must be one of: ${OS_TYPES.join(', ')}.`);
    }
  });
  const inputRequired = booleanField(fields, 'inputRequired', true) ?? false;
  const scopeLevel = requiredField(fields, 'scopeLevel');
  if (!(SCOPE_LEVELS as readonly string[]).includes(scopeLevel)) {
    throw validationError(`scopeLevel: Must be one of: ${SCOPE_LEVELS.join(', ')}.`);
  }
  const level = scopeLevel as Script['scopeLevel'];
  const scopeId =
    level === 'global' ? null : fields.scopeId ? checkId('scopeId', 0, fields.scopeId.trim()) : null;
  checkUploadScope(sim, user, level, scopeId);
  let runtime = 3600;
  if (fields.scriptRuntimeTimeoutSeconds !== undefined) {
    runtime = Number(fields.scriptRuntimeTimeoutSeconds);
    if (!Number.isInteger(runtime) || runtime < 1 || runtime > MAX_RUNTIME_SECONDS) {
      throw validationError(`scriptRuntimeTimeoutSeconds: Must be between 1 and ${MAX_RUNTIME_SECONDS}.`);
    }
  }
  const file = form.files.find((part) => part.field === 'file');
  if (!file) throw validationError('file: Missing data for required field.');
  if (file.content.length === 0) throw validationError('file: The script file is empty.');
  const at = sim.clock();
  const script: Script = {
    id: sim.state.newId(),
    scriptName,
    scriptType: scriptType as ScriptType,
    scriptDescription: fields.scriptDescription ?? null,
    osTypes: osTypes as OsType[],
    inputRequired,
    inputExample: fields.inputExample ?? null,
    inputInstructions: fields.inputInstructions ?? null,
    scriptRuntimeTimeoutSeconds: runtime,
    scopeLevel: level,
    scopeId,
    fileName: file.filename.split(/[\\/]/).pop() || 'script',
    content: file.content,
    signature: createHash('sha256').update(file.content).digest('hex'),
    signatureType: 'SHA256',
    creator: user.fullName,
    creatorId: user.id,
    createdAt: at,
    updatedAt: at,
    version: '1',
  };
  sim.state.scripts.set(script.id, script);
  return { data: renderScript(sim, script) };
}

/** Script library routes. */
export const scriptRoutes: Route[] = [
  {
    method: 'GET',
    pattern: '/remote-scripts',
    permissions: ['Remote Script Orchestration.view'],
    handle: ({ sim, query, requireUser }) => {
      const user = requireUser();
      const ids = query.ids('ids');
      const osTypes = query.enumList('osTypes', OS_TYPES);
      const types = query.enumList('scriptType', SCRIPT_TYPES);
      const siteIds = query.ids('siteIds');
      const accountIds = query.ids('accountIds');
      const text = query.str('query')?.toLowerCase();
      const scripts = [...sim.state.scripts.values()].filter(
        (script) =>
          sim.state.canSeeScript(user, script) &&
          (!ids || ids.includes(script.id)) &&
          (!osTypes || script.osTypes.some((os) => osTypes.includes(os))) &&
          (!types || types.includes(script.scriptType)) &&
          (!siteIds || siteIds.some((siteId) => availableAtSite(sim, script, siteId))) &&
          (!accountIds ||
            script.scopeLevel === 'global' ||
            accountIds.includes(
              script.scopeLevel === 'account'
                ? (script.scopeId ?? '')
                : (sim.state.sites.get(script.scopeId ?? '')?.accountId ?? ''),
            )) &&
          (!text ||
            script.scriptName.toLowerCase().includes(text) ||
            (script.scriptDescription ?? '').toLowerCase().includes(text)),
      );
      sortItems(
        scripts,
        query,
        {
          id: (s) => s.id,
          scriptName: (s) => s.scriptName,
          createdAt: (s) => s.createdAt,
          scriptType: (s) => s.scriptType,
          scopeLevel: (s) => s.scopeLevel,
          version: (s) => s.version,
        },
        'id',
      );
      const page = paginate(scripts, query, { listKey: 'remote-scripts', cursorEnd: sim.config.cursorEnd });
      return { data: page.data.map((script) => renderScript(sim, script)), pagination: page.pagination };
    },
  },
  {
    method: 'POST',
    pattern: '/remote-scripts',
    permissions: ['Remote Script Orchestration.upload'],
    handle: upload,
  },
  {
    method: 'DELETE',
    pattern: '/remote-scripts',
    permissions: ['Remote Script Orchestration.delete'],
    handle: ({ sim, body, requireUser }) => {
      const user = requireUser();
      const request = requireObject(body);
      const filter = requireObject(request.filter ?? {}, 'filter');
      const ids = bodyIds(filter.ids, 'filter.ids');
      // A filter without ids would delete every script it matches; the simulator refuses it outright.
      if (!ids || ids.length === 0)
        throw validationError('filter.ids: Refusing to delete scripts without explicit ids.');
      let affected = 0;
      for (const id of ids) {
        const script = sim.state.scripts.get(id);
        if (!script || !sim.state.canSeeScript(user, script) || script.creatorId === '-1') continue;
        sim.state.scripts.delete(id);
        affected++;
      }
      return { data: { affected: sim.config.numbersAsStrings ? String(affected) : affected } };
    },
  },
  {
    method: 'GET',
    pattern: '/remote-scripts/script-content',
    permissions: ['Remote Script Orchestration.view'],
    handle: ({ sim, query, requireUser }) => {
      const scriptId = query.str('scriptId');
      if (!scriptId) throw validationError('scriptId: Missing data for required field.');
      const script = findScript(sim, requireUser(), checkId('scriptId', 0, scriptId));
      return { data: { scriptContent: script.content.toString('utf8') } };
    },
  },
];
