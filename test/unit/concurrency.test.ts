/** {@link forEachLimit}: at most `limit` in flight, every item attempted, the first error thrown at the end. */
import { describe, expect, it } from 'vitest';
import { forEachLimit } from '../../lambdas/shared/concurrency';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('forEachLimit', () => {
  it('never runs more than the limit at once, and runs every item once', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimit([...Array(25).keys()], 4, async (item) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await tick();
      seen.push(item);
      inFlight -= 1;
    });
    expect(peak).toBe(4);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(25).keys()]);
  });

  it('attempts the items after a failure, then throws the first error', async () => {
    const seen: number[] = [];
    await expect(
      forEachLimit([1, 2, 3, 4], 2, async (item) => {
        seen.push(item);
        await tick();
        if (item === 2) throw new Error('two');
        if (item === 3) throw new Error('three');
      }),
    ).rejects.toThrow('two');
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('refuses a limit below one', async () => {
    await expect(forEachLimit([1], 0, async () => undefined)).rejects.toThrow(RangeError);
  });
});
