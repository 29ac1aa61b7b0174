/**
 * Deterministic randomness for the simulator: with the same seed, a run produces the same ids, uuids and
 * tokens, so failures reproduce.
 */
import { createHash } from 'node:crypto';

/** A small seeded generator (sfc32) returning floats in [0, 1). */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string | number) {
    const digest = createHash('sha256').update(String(seed)).digest();
    this.a = digest.readUInt32LE(0);
    this.b = digest.readUInt32LE(4);
    this.c = digest.readUInt32LE(8);
    this.d = digest.readUInt32LE(12);
  }

  /** Next float in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** `length` characters drawn from `alphabet`. */
  string(length: number, alphabet: string): string {
    let out = '';
    for (let i = 0; i < length; i++) out += alphabet.charAt(Math.floor(this.next() * alphabet.length));
    return out;
  }

  /** Lower-case hex string of `length` characters. */
  hex(length: number): string {
    return this.string(length, '0123456789abcdef');
  }
}

/**
 * Issues S1-style ids: 19-digit decimal strings, strictly increasing (S1 ids grow with creation time, so
 * sorting by id is sorting by creation), with random gaps so clients cannot guess neighbours.
 */
export class IdGenerator {
  private current: bigint;

  constructor(private readonly random: SeededRandom) {
    // Start in the range real consoles issue today (≈1.4e18–2.1e18) and stay far below int64's 9.2e18.
    this.current = 1_400_000_000_000_000_000n + BigInt(random.int(0, 700_000)) * 1_000_000_000_000n;
  }

  /** The next id. */
  next(): string {
    this.current += BigInt(this.random.int(1 << 16, 1 << 24));
    return this.current.toString();
  }
}

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** An 80-character API token like the console issues. */
export function newToken(random: SeededRandom): string {
  return random.string(80, TOKEN_ALPHABET);
}
