/** Poll Threats (see core.ts): run by an EventBridge schedule; the event itself carries nothing it needs. */
import * as z from 'zod';
import { eventBridgeClient, ssmClient } from '../shared/aws';
import { now } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { pollSettings } from '../shared/intake/settings';
import { s1Client } from '../shared/services';
import { pollThreats } from './core';
import { MarkStore } from './mark';
import { republishDueRetries } from './retries';

export const handler = stepHandler('poll-threats', z.unknown(), async () => {
  const settings = pollSettings();
  const polled = await pollThreats({
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
  // Threats whose investigation was not attempted and whose retry is due go on the bus again.
  const retries = await republishDueRetries({
    s1: s1Client(),
    events: eventBridgeClient(),
    eventBusName: settings.eventBusName,
    retries: coordinationStore(),
    now,
  });
  return { ...polled, retries };
});
