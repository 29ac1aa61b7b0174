/** Ensure Scripts (see core.ts). */
import { loadProfileCollectors, profileSettingsFromEnv } from '../collectors';
import { now, sleep } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { ScriptCache } from '../shared/coordination/script-cache';
import { stepHandler } from '../shared/handler';
import { ResolvedTargets } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { scriptLibraryCacheSeconds, workflowSettings } from '../shared/settings';
import { ensureScripts } from './core';

// Read and hash once per container: the scripts are part of the deployed bundle.
const collectors = loadProfileCollectors();

const cacheSeconds = () => scriptLibraryCacheSeconds();

export const handler = stepHandler('ensure-scripts', ResolvedTargets, (input) =>
  ensureScripts(input, {
    s1: s1Client(),
    collectors,
    runtimeTimeoutSeconds: workflowSettings().scriptRuntimeTimeoutSeconds,
    profiles: profileSettingsFromEnv(),
    ...(cacheSeconds() > 0 ? { cache: new ScriptCache(coordinationStore(), cacheSeconds()) } : {}),
    now,
    sleep: (ms) => sleep(ms),
  }),
);
