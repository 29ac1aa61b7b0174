/** Hand To Cado (see core.ts; in collection mode cado-xdr, xdr.ts). */
import { s3Client } from '../shared/aws';
import { now, sleep } from '../shared/clock';
import { coordinationStore } from '../shared/coordination';
import { stepHandler } from '../shared/handler';
import { type HandedOff, HandToCadoInput, type XdrHandedOff } from '../shared/schemas';
import { cadoClient } from '../shared/services';
import { cadoSettings, xdrSettings } from '../shared/settings';
import { handToCado } from './core';
import { importFromXdr } from './xdr';

export const handler = stepHandler(
  'hand-to-cado',
  HandToCadoInput,
  (input): Promise<HandedOff | XdrHandedOff> =>
    'evidence' in input
      ? handToCado(input, {
          cado: cadoClient(),
          s3: s3Client(),
          store: coordinationStore(),
          settings: cadoSettings(),
          now,
        })
      : importFromXdr(input, {
          cado: cadoClient(),
          store: coordinationStore(),
          settings: cadoSettings(),
          xdr: xdrSettings(),
          now,
          sleep: (ms) => sleep(ms),
        }),
);
