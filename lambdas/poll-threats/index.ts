/** Poll Threats (see core.ts): run by an EventBridge schedule; the event itself carries nothing it needs. */
import { z } from 'zod';
import { eventBridgeClient, ssmClient } from '../shared/aws';
import { now } from '../shared/clock';
import { stepHandler } from '../shared/handler';
import { pollSettings } from '../shared/intake/settings';
import { s1Client } from '../shared/services';
import { pollThreats } from './core';
import { MarkStore } from './mark';

export const handler = stepHandler('poll-threats', z.unknown(), () => {
  const settings = pollSettings();
  return pollThreats({
    s1: s1Client(),
    events: eventBridgeClient(),
    eventBusName: settings.eventBusName,
    marks: new MarkStore(ssmClient(), settings.markParameter),
    filter: settings.filter,
    now,
    lookbackSeconds: settings.lookbackSeconds,
    settleSeconds: settings.settleSeconds,
    pageSize: settings.pageSize,
    maxPages: settings.maxPages,
    timeBudgetSeconds: settings.timeBudgetSeconds,
  });
});
