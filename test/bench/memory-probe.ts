/**
 * Peak memory of the current process while something runs. Two sources, because each misses something:
 * `process.resourceUsage().maxRSS` is the kernel's high-water mark (exact, but for the whole life of the process,
 * start-up included, and without a breakdown), and polling `process.memoryUsage()` shows what the RSS was made of
 * near its peak (V8 heap, external memory and ArrayBuffers, i.e. Buffers) but can miss a spike between two polls.
 * Also the CPU time of another process (the bench's s3rver child), from /proc.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A snapshot of `process.memoryUsage()` (bytes). */
export interface MemorySample {
  readonly rss: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** What a probe saw. */
export interface MemoryReport {
  /** Kernel high-water mark of the RSS since the process started (`resourceUsage().maxRSS`, in bytes). */
  readonly maxRssBytes: number;
  /** Highest RSS seen by polling while the probe ran. */
  readonly polledPeakRss: number;
  /** The sample with the highest RSS (its breakdown). */
  readonly atPeak: MemorySample;
  /** Highest heapUsed and arrayBuffers seen (they need not peak together with the RSS). */
  readonly peakHeapUsed: number;
  readonly peakArrayBuffers: number;
  /** Samples taken. */
  readonly samples: number;
}

/** A running probe. */
export interface MemoryProbe {
  /** Stops polling and returns the report (takes one last sample first). */
  stop(): MemoryReport;
}

/** Kernel high-water mark of this process's RSS, in bytes (`maxRSS` is reported in KiB). */
export function maxRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Measures the CPU time (user + system, ms) this process spends from now until the returned function is called. */
export function cpuTimer(): () => number {
  const start = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
}

/** Current memory, as {@link MemorySample}. */
export function sampleMemory(): MemorySample {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapTotal, heapUsed, external, arrayBuffers };
}

/**
 * Starts polling every `intervalMs` (real time; the timer does not keep the process alive). Not more often than
 * 100 ms by default: `process.memoryUsage()` costs up to a millisecond of CPU, which at 20 ms was 4% of a staging
 * child's CPU (the kernel's high-water mark is the figure; the polls only explain it).
 */
export function startMemoryProbe(intervalMs = 100): MemoryProbe {
  let atPeak = sampleMemory();
  let peakHeapUsed = atPeak.heapUsed;
  let peakArrayBuffers = atPeak.arrayBuffers;
  let samples = 1;
  const take = () => {
    const sample = sampleMemory();
    samples++;
    if (sample.rss > atPeak.rss) atPeak = sample;
    peakHeapUsed = Math.max(peakHeapUsed, sample.heapUsed);
    peakArrayBuffers = Math.max(peakArrayBuffers, sample.arrayBuffers);
  };
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      take();
      return {
        maxRssBytes: maxRssBytes(),
        polledPeakRss: atPeak.rss,
        atPeak,
        peakHeapUsed,
        peakArrayBuffers,
        samples,
      };
    },
  };
}

/** Clock ticks per second of /proc's CPU times. */
let clockTicks: number | undefined;

/** User + system CPU seconds of process `pid` from /proc/<pid>/stat (Linux), or undefined. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, in parentheses): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}
