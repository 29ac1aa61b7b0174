import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { caseKey, caseKeyForExecution, REJECTED_PREFIX } from '../../lambdas/shared/evidence/keys';
import { InvestigationId } from '../../lambdas/shared/schemas';

describe('case file keys', () => {
  it("puts a valid investigation's case file in its own folder", () => {
    for (const id of [
      'threat-4200000000000000001',
      'manual-20261203T0500Z-ab12',
      'threat-1-r2',
      'x'.repeat(80),
    ]) {
      expect(InvestigationId.safeParse(id).success, id).toBe(true);
      expect(caseKeyForExecution(id)).toBe(caseKey(id));
      expect(caseKeyForExecution(id)).toBe(`investigations/${id}/case.json`);
    }
  });

  it('files the case of any other execution name under _rejected/, by the SHA-256 of the name', () => {
    for (const name of ['..', '.', '_rejected', '_x', 'a.b', 'café', 'a/b', 'x'.repeat(81), '']) {
      expect(InvestigationId.safeParse(name).success, name).toBe(false);
      const digest = createHash('sha256').update(name, 'utf8').digest('hex');
      expect(caseKeyForExecution(name)).toBe(`${REJECTED_PREFIX}${digest}/case.json`);
    }
    expect(REJECTED_PREFIX).toBe('investigations/_rejected/');
  });

  it('never lets an investigation id name the _rejected folder', () => {
    expect(InvestigationId.safeParse('_rejected').success).toBe(false);
    expect(caseKeyForExecution('_rejected')).not.toBe(caseKey('_rejected'));
  });
});
