/**
 * Randomness as an input. Engines take a Random; the daemon passes a
 * crypto-seeded one, the simulator a seeded one so that a run replays exactly.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  between(lo: number, hi: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
}

/** sfc32: a small, fast generator with a 128-bit state; good enough for simulation and jitter. */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 + seed * 0x85ebca6b;
  let c = 0xb7e15162 ^ (seed >>> 3);
  let d = 1;
  const u32 = (): number => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) u32();
  return fromUniform(() => u32() / 4294967296);
}

export function cryptoRandom(): Random {
  const buf = new Uint32Array(1);
  return fromUniform(() => {
    crypto.getRandomValues(buf);
    return (buf[0] ?? 0) / 4294967296;
  });
}

function fromUniform(next: () => number): Random {
  return {
    next,
    int: (n) => Math.floor(next() * n),
    between: (lo, hi) => lo + next() * (hi - lo),
    chance: (p) => next() < p,
  };
}
