/**
 * Seeds: one number drives a whole simulated run. `deriveSeed` splits it into
 * independent streams (one per node, per link); `forEachSeed` runs a scenario
 * over many seeds and, when one fails, says which and how to replay it alone.
 */
import { relative } from "node:path";

/** A 32-bit seed for the stream called `label` within the run of `seed` (FNV-1a, then a murmur3 finaliser). */
export function deriveSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

export interface SeedRun {
  /** The name of the enclosing `test(...)`, used for `-t` in the replay command. */
  test: string;
  /** The test file (pass `import.meta.path`). */
  file: string;
  /** How many seeds to run (1..seeds) unless SIM_SEEDS says otherwise. */
  seeds: number;
}

function envInt(name: string, env: Record<string, string | undefined>): number | null {
  const raw = env[name];
  if (raw === undefined || raw === "") return null;
  if (!/^[1-9][0-9]*$/.test(raw)) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** The shell command that runs only `seed` of this scenario. */
export function replayCommand(run: SeedRun, seed: number): string {
  const pattern = run.test.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/'/g, "'\\''");
  return `SIM_SEED=${seed} node_modules/.bin/bun test ${relative(process.cwd(), run.file)} -t '${pattern}'`;
}

/**
 * Run `fn` for seeds 1..run.seeds (SIM_SEEDS=N runs 1..N; SIM_FIRST=K starts at K instead, so a long
 * run goes in chunks; SIM_SEED=N runs only N).
 * Stops at the first failing seed and throws an error naming it, with the
 * command that replays it; the original error is its `cause`.
 * Returns the seeds that ran.
 */
export function forEachSeed(run: SeedRun, fn: (seed: number) => void, env: Record<string, string | undefined> = process.env): number[] {
  const seeds = seedsOf(run, env);
  for (const seed of seeds) {
    try {
      fn(seed);
    } catch (err) {
      throw seedFailed(run, seed, err);
    }
  }
  return seeds;
}

/** forEachSeed for scenarios that run the world with runUntilSettled. */
export async function forEachSeedAsync(run: SeedRun, fn: (seed: number) => Promise<void>, env: Record<string, string | undefined> = process.env): Promise<number[]> {
  const seeds = seedsOf(run, env);
  for (const seed of seeds) {
    try {
      await fn(seed);
    } catch (err) {
      throw seedFailed(run, seed, err);
    }
  }
  return seeds;
}

function seedsOf(run: SeedRun, env: Record<string, string | undefined>): number[] {
  const only = envInt("SIM_SEED", env);
  const count = envInt("SIM_SEEDS", env) ?? run.seeds;
  const first = envInt("SIM_FIRST", env) ?? 1;
  return only !== null ? [only] : Array.from({ length: Math.max(0, count - first + 1) }, (_, i) => first + i);
}

function seedFailed(run: SeedRun, seed: number, err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`seed ${seed} failed: ${message}\n  replay: ${replayCommand(run, seed)}`, { cause: err });
}
