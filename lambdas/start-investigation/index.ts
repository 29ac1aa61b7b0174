/** Start Investigation (see core.ts): the target of the intake bus's rule. */

import { profileSettingsFromEnv } from '../collectors/profiles';
import { s3Client, sfnClient } from '../shared/aws';
import { now } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { startSettings, threatFilterFromEnv } from '../shared/intake/settings';
import { logger } from '../shared/observability';
import { s1Client } from '../shared/services';
import { startInvestigation, ThreatEvent } from './core';

export const handler = stepHandler('start-investigation', ThreatEvent, async (event) => {
  const settings = startSettings();
  try {
    return await startInvestigation(event, {
      sfn: sfnClient(),
      s3: s3Client(),
      evidenceBucket: settings.evidenceBucket,
      stateMachineArn: settings.stateMachineArn,
      s1: s1Client(),
      addThreatNote: settings.addThreatNote,
      filter: threatFilterFromEnv(),
      profiles: profileSettingsFromEnv(),
      retries: coordinationStore,
      now,
    });
  } finally {
    logger.removeKeys(['threatId']);
  }
});
