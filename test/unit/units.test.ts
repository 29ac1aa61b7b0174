import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration } from '../../bin/units';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('formatBytes', () => {
  it('counts bytes below one KiB', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1023)).toBe('1023 B');
  });

  it('uses the largest binary unit, one decimal at most, none when whole', () => {
    expect(formatBytes(KiB)).toBe('1 KiB');
    expect(formatBytes(65_638)).toBe('64.1 KiB');
    expect(formatBytes(1.5 * MiB)).toBe('1.5 MiB');
    expect(formatBytes(8 * MiB)).toBe('8 MiB');
    expect(formatBytes(100 * MiB)).toBe('100 MiB');
    expect(formatBytes(293.4 * MiB)).toBe('293 MiB');
    expect(formatBytes(2 * GiB)).toBe('2 GiB');
    expect(formatBytes(3 * 1024 * GiB)).toBe('3 TiB');
    expect(formatBytes(5000 * 1024 * GiB)).toBe('5000 TiB');
  });

  it('moves up a unit when rounding reaches 1024', () => {
    expect(formatBytes(MiB - 1)).toBe('1 MiB');
    expect(formatBytes(GiB - 10)).toBe('1 GiB');
  });

  it('adds the exact count with separators on request', () => {
    expect(formatBytes(1_572_864, { exact: true })).toBe('1.5 MiB (1,572,864 bytes)');
    expect(formatBytes(512, { exact: true })).toBe('512 B');
  });

  it('shows nonsense as it is rather than as a size', () => {
    expect(formatBytes(-1)).toBe('-1 B');
    expect(formatBytes(Number.NaN)).toBe('NaN B');
  });
});

describe('formatCount', () => {
  it('separates thousands with commas', () => {
    expect(formatCount(8_389_214)).toBe('8,389,214');
    expect(formatCount(999)).toBe('999');
  });
});

describe('formatDuration', () => {
  it('shows milliseconds below a second and seconds with one decimal below a minute', () => {
    expect(formatDuration(0)).toBe('0 ms');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(4200)).toBe('4.2 s');
    expect(formatDuration(30_000)).toBe('30 s');
    expect(formatDuration(59_940)).toBe('59.9 s');
  });

  it('shows minutes and padded seconds below an hour, hours and padded minutes above', () => {
    expect(formatDuration(59_960)).toBe('1m 00s');
    expect(formatDuration(60_000)).toBe('1m 00s');
    expect(formatDuration(192_000)).toBe('3m 12s');
    expect(formatDuration(3_599_000)).toBe('59m 59s');
    expect(formatDuration(3_600_000)).toBe('1h 00m');
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000 + 29_000)).toBe('2h 05m');
    expect(formatDuration(6 * 3_600_000)).toBe('6h 00m');
  });

  it('reads negative and non-finite durations as zero', () => {
    expect(formatDuration(-5)).toBe('0 ms');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('0 ms');
  });
});
