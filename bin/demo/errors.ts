/** Errors of `npm run demo`. */

/** The command line is wrong (unknown option, bad value, a token on argv): exit code 2, usage hint. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
