/**
 * Fuzzing the config loader (parseConfig with every module): random
 * TOML-ish text and mutations of real configs (the examples, and the configs
 * the importers write from their test inputs) give a config or problems,
 * never a throw, and every problem has a key path and a message.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parseConfig, type LoadResult } from "../../core/config/load.ts";
import type { Problem } from "../../core/config/problems.ts";
import { MODULES } from "../../modules/index.ts";
import { bounded, mutate, mutations, parameters, TEST_TIMEOUT_MS } from "./fuzz.ts";
import { importedConfigs } from "./inputs.ts";

const EXAMPLES = join(import.meta.dir, "..", "..", "examples");
const EXAMPLE_TEXTS = readdirSync(EXAMPLES).filter((f) => f.endsWith(".toml")).map((f) => readFileSync(join(EXAMPLES, f), "utf8"));
/** The imported configs that pass as written (keepalived's leave TODOs for what its files do not say). */
const IMPORTED = importedConfigs().filter((t) => parseConfig(t, "imported.toml", MODULES).ok);
const SEEDS = [...EXAMPLE_TEXTS, ...IMPORTED];
/** A parse is a millisecond or two; this catches a loop or a blow-up. */
const BOUND_MS = 2_000;

/** The words of the seeds (keys, section names, values) and TOML's own punctuation. */
const WORDS = [...new Set(SEEDS.flatMap((s) => s.match(/[A-Za-z_][A-Za-z0-9_.:-]*/g) ?? []))];
const TOKENS = [...WORDS, "=", "[", "]", "[[", "]]", "{", "}", ",", '"', "'''", '"""', "\n", "#", ".", "-", "0", "-1", "1e400", "inf", "nan", "2026-12-04T19:00:00Z", "9223372036854775807", "0x7fffffff", "999999999999999h"];

function wellFormed(r: LoadResult): void {
  const all: Problem[] = [...(r.ok ? [] : r.problems), ...r.warnings];
  if (!r.ok) expect(r.problems.length).toBeGreaterThan(0);
  for (const p of all) {
    expect(Array.isArray(p.path)).toBe(true);
    for (const k of p.path) expect(["string", "number"]).toContain(typeof k);
    expect(typeof p.message).toBe("string");
    expect(p.message.length).toBeGreaterThan(0);
  }
}

const parsed = (text: string) => wellFormed(bounded(BOUND_MS, () => parseConfig(text, "fuzz.toml", MODULES)));

/** TOML-ish text: tables (named by the seeds' keys, or any quoted string) of distinct keys with values of every type, nested arrays and inline tables too; comments; a junk line now and then. */
const KEYS = WORDS.filter((w) => /^[A-Za-z0-9_-]+$/.test(w));
const word = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map((w) => JSON.stringify(w)) });
const key = fc.array(word, { minLength: 1, maxLength: 3 }).map((ws) => ws.join("."));
const value: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
    fc.constantFrom(...WORDS).map((w) => `"${w}"`),
    fc.constantFrom('"1s"', '"200ms"', '"0s"', '"999999999d"', '"198.18.1.11"', '"198.18.1.0/24"', "true", "false", "0", "-1", "65536", "1.5", "inf", "nan", "1979-05-27"),
    fc.integer().map(String),
    fc.array(tie("value"), { maxLength: 4 }).map((vs) => `[${vs.join(", ")}]`),
    fc.uniqueArray(fc.tuple(word, tie("value")), { maxLength: 3, selector: ([k]) => k }).map((kvs) => `{ ${kvs.map(([k, v]) => `${k} = ${v}`).join(", ")} }`),
  ),
})).value;
const body = fc.uniqueArray(fc.tuple(word, value), { maxLength: 6, selector: ([k]) => k }).map((kvs) => kvs.map(([k, v]) => `${k} = ${v}`));
const table = fc.tuple(fc.constantFrom("[", "[["), key, body).map(([open, k, lines]) => [`${open}${k}${open === "[" ? "]" : "]]"}`, ...lines]);
const extra = fc.oneof(fc.string({ maxLength: 30 }).map((s) => `# ${s.replace(/[\n\r]/g, " ")}`), fc.string({ maxLength: 30 }));
const tomlish = fc
  .tuple(body, fc.array(table, { maxLength: 6 }), fc.option(extra, { freq: 4 }))
  .map(([top, tables, junk]) => [...top, ...tables.flat(), ...(junk === null ? [] : [junk])].join("\n"));

describe("fuzz: the config loader (parseConfig)", () => {
  test(
    "random TOML-ish text: a config or problems with a path, never a throw",
    () => {
      fc.assert(fc.property(tomlish, parsed), parameters());
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "the example and imported configs mutated: a config or problems with a path, never a throw",
    () => {
      fc.assert(fc.property(fc.constantFrom(...SEEDS), mutations(TOKENS), (seed, ms) => parsed(mutate(seed, ms))), parameters());
    },
    TEST_TIMEOUT_MS,
  );

  test("the seeds are valid configs: the five examples and the imports of Heartbeat's, ldirectord's, keepalived's and HAProxy's files", () => {
    for (const s of EXAMPLE_TEXTS) expect(parseConfig(s, "seed.toml", MODULES).ok).toBe(true);
    expect(EXAMPLE_TEXTS.length).toBe(5);
    // Heartbeat's two setups, ldirectord's sixteen files (web.cf and the field ones), two of keepalived's (pair.conf
    // and field/params.conf: the others leave TODOs), and the eight haproxy.cfg but quoted.cfg (its host-name server is a TODO).
    expect(IMPORTED.length).toBe(27);
  });
});

describe("the config loader: what fuzzing found", () => {
  test("a dotted key or table 100 000 levels deep is a problem at the depth bound, not a stack overflow thrown from the schema's walk", () => {
    for (const text of [`${"a.".repeat(100_000)}b = 1`, `[${"a.".repeat(100_000)}b]`, `cluster = ${"[".repeat(1000)}${"]".repeat(1000)}`]) {
      const r = bounded(BOUND_MS, () => parseConfig(text, "deep.toml", MODULES));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.problems).toHaveLength(1);
        expect(r.problems[0]!.message).toBe("nested deeper than 32 levels");
        expect(r.problems[0]!.path.length).toBe(33);
      }
    }
  });

  test("50 000 unknown keys: one problem each, within 10 s (about 1 s here; it was quadratic, 20 000 took 3 to 8 s)", () => {
    const text = Array.from({ length: 50_000 }, (_, i) => `k${i} = 1`).join("\n");
    const r = bounded(10_000, () => parseConfig(text, "wide.toml", MODULES));
    expect(r.ok ? [] : r.problems.filter((p) => p.message.startsWith("unknown key"))).toHaveLength(50_000);
  });
});
