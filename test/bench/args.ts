/** Command line of `npm run bench`. */

/** The bench's sections, in the order they run. */
export const SECTIONS = ['staging', 'bill', 'burst', 'lambdas'] as const;
export type Section = (typeof SECTIONS)[number];

/** Parsed options. */
export interface BenchArgs {
  /** Print one JSON document on stdout instead of tables (progress still goes to stderr). */
  readonly json: boolean;
  /** Sections to run. */
  readonly sections: readonly Section[];
  /** Smaller sizes and counts: a quick look, not the figures to report. */
  readonly quick: boolean;
  /** Overrides of the burst: number of threats and time scale. */
  readonly threats: number | undefined;
  readonly burstScale: number | undefined;
  /** Fresh processes per Lambda for the init time. */
  readonly initRuns: number | undefined;
  /** Run the burst a second time with the proposed Retry for S1 throttling. */
  readonly burstWhatIf: boolean;
  /** Send the burst's threats through threat intake (bus, queue, start-investigation) instead of StartExecution. */
  readonly burstIntake: boolean;
  /** Write CPU profiles of the staging children into this folder. */
  readonly cpuProfDir: string | undefined;
  readonly help: boolean;
}

/** A bad command line. */
export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

/** Usage text. */
export const USAGE = `Usage: npm run bench -- [options]

  --only <section>[,<section>]  run only these: ${SECTIONS.join(', ')}
  --json                        machine-readable output on stdout (progress on stderr)
  --quick                       small sizes and counts (a smoke run; not the figures to report)
  --threats <n>                 burst size (default 1000)
  --burst-scale <x>             simulated seconds per real second in the burst (default 3)
  --init-runs <n>               fresh processes per Lambda for init time (default 5)
  --burst-what-if               run the burst again with the proposed Retry for S1RateLimitedError
  --intake                      burst threats go through threat intake (bus, SQS queue, start-investigation)
  --cpu-prof <dir>              write a CPU profile of every staging child into <dir>
  --help                        this text`;

function positiveNumber(flag: string, value: string | undefined): number {
  const parsed = Number(value);
  if (value === undefined || !Number.isFinite(parsed) || parsed <= 0) {
    throw new BenchUsageError(`${flag} needs a positive number`);
  }
  return parsed;
}

/** Parses `argv` (without node and the script). */
export function parseArgs(argv: readonly string[]): BenchArgs {
  let json = false;
  let quick = false;
  let help = false;
  let sections: Section[] = [...SECTIONS];
  let threats: number | undefined;
  let burstScale: number | undefined;
  let initRuns: number | undefined;
  let burstWhatIf = false;
  let burstIntake = false;
  let cpuProfDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--json':
        json = true;
        break;
      case '--quick':
        quick = true;
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--only': {
        const wanted = (value() ?? '').split(',').filter(Boolean);
        const unknown = wanted.filter((name) => !(SECTIONS as readonly string[]).includes(name));
        if (wanted.length === 0 || unknown.length) {
          throw new BenchUsageError(
            `--only takes one or more of ${SECTIONS.join(', ')}${unknown.length ? ` (not: ${unknown.join(', ')})` : ''}`,
          );
        }
        sections = SECTIONS.filter((name) => wanted.includes(name));
        break;
      }
      case '--threats':
        threats = Math.round(positiveNumber('--threats', value()));
        break;
      case '--burst-scale':
        burstScale = positiveNumber('--burst-scale', value());
        break;
      case '--burst-what-if':
        burstWhatIf = true;
        break;
      case '--intake':
        burstIntake = true;
        break;
      case '--cpu-prof': {
        cpuProfDir = value();
        if (!cpuProfDir) throw new BenchUsageError('--cpu-prof needs a folder');
        break;
      }
      case '--init-runs':
        initRuns = Math.round(positiveNumber('--init-runs', value()));
        break;
      default:
        throw new BenchUsageError(`unknown option ${arg}`);
    }
  }
  return { json, sections, quick, threats, burstScale, initRuns, burstWhatIf, burstIntake, cpuProfDir, help };
}
