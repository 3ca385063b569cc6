/**
 * A seeded random number generator whose state can be saved and restored,
 * so a resumed run draws exactly the numbers an uninterrupted one would.
 */
import seedrandom from 'seedrandom';

export type RngState = seedrandom.State.Alea;

export class Rng {
  private readonly prng: seedrandom.StatefulPRNG<RngState>;

  constructor(seed: number | string, state?: RngState) {
    this.prng = seedrandom.alea(String(seed), { state: state ? { ...state } : true });
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng.double();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A 31-bit integer, e.g. a seed for tf.dropout. */
  seed(): number {
    return this.prng.int32() >>> 1;
  }

  /** Fisher–Yates shuffle in place (arrays and typed arrays draw the same numbers). */
  shuffle<A extends { length: number; [index: number]: unknown }>(items: A): A {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  state(): RngState {
    return this.prng.state();
  }
}
