/** Ensure Scripts (see core.ts). */
import { loadProfileCollectors, profileSettingsFromEnv } from '../collectors';
import { stepHandler } from '../shared/handler';
import { ResolvedTargets } from '../shared/schemas';
import { s1Client } from '../shared/services';
import { workflowSettings } from '../shared/settings';
import { ensureScripts } from './core';

// Read and hash once per container: the scripts are part of the deployed bundle.
const collectors = loadProfileCollectors();

export const handler = stepHandler('ensure-scripts', ResolvedTargets, (input) =>
  ensureScripts(input, {
    s1: s1Client(),
    collectors,
    runtimeTimeoutSeconds: workflowSettings().scriptRuntimeTimeoutSeconds,
    profiles: profileSettingsFromEnv(),
  }),
);
