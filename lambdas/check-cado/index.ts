/** Check Cado (see core.ts). */
import { now } from '../shared/clock';
import { stepHandler } from '../shared/handler';
import { CadoFollowed } from '../shared/schemas';
import { cadoClient } from '../shared/services';
import { checkCado } from './core';

export const handler = stepHandler('check-cado', CadoFollowed, (input) =>
  checkCado(input, { cado: cadoClient(), now }),
);
