/** Hand To Cado (see core.ts). */
import { s3Client } from '../shared/aws';
import { now } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { StagedEvidence } from '../shared/schemas';
import { cadoClient } from '../shared/services';
import { cadoSettings } from '../shared/settings';
import { handToCado } from './core';

export const handler = stepHandler('hand-to-cado', StagedEvidence, (input) =>
  handToCado(input, {
    cado: cadoClient(),
    s3: s3Client(),
    store: coordinationStore(),
    settings: cadoSettings(),
    now,
  }),
);
