import { describe, expect, it } from 'vitest';
import { rerunExecutionName } from '../../bin/cli/handoff';

describe('rerunExecutionName', () => {
  const at = Date.UTC(2026, 11, 2, 17, 40, 11, 250);

  it('names the investigation, the second and a random tail', () => {
    expect(rerunExecutionName('manual-20261202T174000Z-0a0b0c', at, () => 'a1b2c3')).toBe(
      'manual-20261202T174000Z-0a0b0c-handoff-20261202T174011Z-a1b2c3',
    );
  });

  it('keeps two starts within the same second apart', () => {
    const first = rerunExecutionName('threat-1', at);
    const second = rerunExecutionName('threat-1', at);
    expect(first).not.toBe(second);
    expect(first.startsWith('threat-1-handoff-20261202T174011Z-')).toBe(true);
    expect(second.startsWith('threat-1-handoff-20261202T174011Z-')).toBe(true);
  });

  it('drops the investigation id when the name would pass the 80 characters Step Functions allows', () => {
    const long = `threat-${'9'.repeat(60)}`;
    const name = rerunExecutionName(long, at, () => 'ffffff');
    expect(name).toBe('handoff-20261202T174011Z-ffffff');
    expect(rerunExecutionName('x'.repeat(40), at, () => 'ffffff').length).toBeLessThanOrEqual(80);
  });
});
