/**
 * What the fuzz tests share: the number of inputs per property (FUZZ_RUNS,
 * 10^4 by default; `npm run fuzz` sets 10^6), a time bound per call (a
 * decoder that loops or goes super-linear on some input fails the property
 * with that input, shrunk), and text mutations of real inputs.
 */
import fc from "fast-check";

export const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
/** bun test's own timeout for one property: 10^6 inputs take long. */
export const TEST_TIMEOUT_MS = Math.max(120_000, RUNS * 20);

/**
 * The seed of every property in this run (fast-check prints it with a
 * counterexample; the watchdog with a hang). `npm test` runs the same inputs
 * every time, so a red run is a change's doing and can be replayed; the long
 * run (`npm run fuzz`, which sets FUZZ_RUNS) draws a new seed each time, to
 * explore.
 */
const NPM_TEST_SEED = 20261204;
export const SEED = Number(process.env.FUZZ_SEED ?? (process.env.FUZZ_RUNS === undefined ? NPM_TEST_SEED : Math.floor(Math.random() * 2 ** 31)));
/** A call that has not returned after this long is a hang: the watchdog aborts the run. */
const HANG_MS = Number(process.env.FUZZ_HANG_MS ?? 30_000);

// Inputs up to about a hundred elements by default (fast-check's own default stops near ten); bigger where an arbitrary asks.
fc.configureGlobal({ baseSize: "medium" });

export const parameters = (runs = RUNS): fc.Parameters<unknown> => ({ numRuns: runs, seed: SEED });

const BASE = Date.now();
const started = new Int32Array(new SharedArrayBuffer(4));
const watchdog = new Worker(new URL("./watchdog.ts", import.meta.url).href);
watchdog.postMessage({ shared: started.buffer, base: BASE, hangMs: HANG_MS, seed: SEED });
watchdog.unref();

/**
 * `f()`, failing when one call takes longer than `boundMs` (and aborting the
 * run, by the watchdog, when it does not return). The bounds are far above a
 * call's usual time (this machine is shared): they catch a loop or a
 * blow-up, not a slow moment.
 */
export function bounded<T>(boundMs: number, f: () => T): T {
  const t0 = performance.now();
  Atomics.store(started, 0, Math.max(1, Date.now() - BASE));
  let out: T;
  try {
    out = f();
  } finally {
    Atomics.store(started, 0, 0);
  }
  const took = performance.now() - t0;
  if (took > boundMs) throw new Error(`one call took ${took.toFixed(1)} ms, over the ${boundMs} ms bound`);
  return out;
}

export type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "delete"; at: number; length: number }
  | { op: "insert"; at: number; text: string }
  | { op: "duplicate-line"; at: number }
  | { op: "swap-lines"; at: number; other: number }
  | { op: "truncate"; at: number };

/** Mutations of a text: bit flips, cuts, insertions (of the format's own tokens or any text), repeated and swapped lines. */
export function mutations(tokens: readonly string[]): fc.Arbitrary<Mutation[]> {
  const at = fc.nat();
  const text = fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 12 }), fc.string({ unit: "binary", maxLength: 6 }));
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ op: fc.constant("flip" as const), at, bit: fc.integer({ min: 0, max: 15 }) }),
    fc.record({ op: fc.constant("delete" as const), at, length: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ op: fc.constant("insert" as const), at, text }),
    fc.record({ op: fc.constant("duplicate-line" as const), at }),
    fc.record({ op: fc.constant("swap-lines" as const), at, other: at }),
    fc.record({ op: fc.constant("truncate" as const), at }),
  );
  return fc.array(mutation, { minLength: 1, maxLength: 4 });
}

export function mutate(text: string, ms: readonly Mutation[]): string {
  let s = text;
  for (const m of ms) {
    const i = s.length ? m.at % (s.length + 1) : 0;
    switch (m.op) {
      case "flip":
        s = i < s.length ? s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << m.bit)) + s.slice(i + 1) : s;
        break;
      case "delete":
        s = s.slice(0, i) + s.slice(i + m.length);
        break;
      case "insert":
        s = s.slice(0, i) + m.text + s.slice(i);
        break;
      case "truncate":
        s = s.slice(0, i);
        break;
      case "duplicate-line":
      case "swap-lines": {
        const lines = s.split("\n");
        const a = m.at % lines.length;
        if (m.op === "duplicate-line") lines.splice(a, 0, lines[a]!);
        else {
          const b = m.other % lines.length;
          [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        }
        s = lines.join("\n");
        break;
      }
    }
  }
  // A cut or an insert between the halves of a surrogate pair leaves a lone half, which no file can hold:
  // a text read from a file is decoded UTF-8, so make it what such a decoding could give.
  return s.toWellFormed();
}

/** Byte mutations of a binary input: bit flips, truncation, extension. */
export type ByteMutation = { op: "flip"; at: number; bit: number } | { op: "truncate"; at: number } | { op: "extend"; bytes: Uint8Array } | { op: "set"; at: number; value: number };

export const byteMutations: fc.Arbitrary<ByteMutation[]> = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ op: fc.constant("extend" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
    fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  ),
  { minLength: 1, maxLength: 4 },
);

export function mutateBytes(bytes: Uint8Array, ms: readonly ByteMutation[]): Uint8Array {
  let b = bytes.slice();
  for (const m of ms) {
    if (m.op === "extend") {
      const next = new Uint8Array(b.length + m.bytes.length);
      next.set(b);
      next.set(m.bytes, b.length);
      b = next;
    } else if (b.length) {
      const i = m.at % b.length;
      if (m.op === "truncate") b = b.slice(0, i);
      else if (m.op === "flip") b[i]! ^= 1 << m.bit;
      else b[i] = m.value;
    }
  }
  return b;
}

export const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
