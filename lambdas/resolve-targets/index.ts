/** Resolve Targets (see core.ts). */
import { profileSettingsFromEnv } from '../collectors/profiles';
import { nowIso } from '../shared/clock';
import { stepHandler } from '../shared/handler';
import { PreflightChecked } from '../shared/schemas';
import { xdrSettings } from '../shared/settings';
import { resolveTargets } from './core';

export const handler = stepHandler('resolve-targets', PreflightChecked, async (event) =>
  resolveTargets(event, nowIso, profileSettingsFromEnv(), xdrSettings().defaultMode),
);
