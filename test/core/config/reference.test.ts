/** docs/configuration.md against the schema it is made from, and `tandem config explain`. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "smol-toml";
import { Value } from "@sinclair/typebox/value";
import "../../../core/config/load.ts"; // registers the schema's formats (ipv4) with TypeBox
import { configSchema } from "../../../core/config/schema.ts";
import { configKeys, explainText, referenceMarkdown } from "../../../core/config/reference.ts";
import { MODULES } from "../../../modules/index.ts";
import { tandem } from "../../helpers.ts";

const ROOT = resolve(import.meta.dir, "../../..");
const schema = configSchema(MODULES);
const keys = configKeys(schema);

/** Every key of a JSON Schema that holds a value (not a table), dotted; walked here apart from the reference's own walk. */
function leaves(s: Record<string, any>, prefix = ""): string[] {
  return Object.entries(s.properties as Record<string, Record<string, any>>).flatMap(([k, v]) => {
    const inner = v.type === "array" && v.items?.properties ? v.items : v.properties ? v : undefined;
    return inner ? leaves(inner, `${prefix}${k}.`) : [`${prefix}${k}`];
  });
}

describe("docs/configuration.md", () => {
  test("is what the schema makes (regenerate: npm run docs:config)", () => {
    const file = readFileSync(join(ROOT, "docs", "configuration.md"), "utf8");
    // A plain equality whose diff names the first line that differs.
    expect(file.split("\n")).toEqual(referenceMarkdown(keys).split("\n"));
  });

  test("has a section for every key of the schema, with its type, default and example", () => {
    const file = readFileSync(join(ROOT, "docs", "configuration.md"), "utf8");
    const all = leaves(schema as Record<string, any>);
    expect(all.length).toBeGreaterThan(100);
    expect(keys.map((k) => k.path)).toEqual(all);
    for (const path of all) {
      const at = file.indexOf(`\n### \`${path}\`\n`);
      expect([path, at]).not.toEqual([path, -1]);
      const body = file.slice(at, file.indexOf("\n### ", at + 1) >>> 0);
      expect(body).toMatch(/\n- type: .+\n/);
      expect(body).toMatch(/\n- default: .+\n/);
      expect(body).toContain("```toml");
    }
  });

  test("every example is TOML whose value the key's schema accepts", () => {
    const refused = keys.filter((k) => {
      let v: unknown = parse(k.example.toml);
      for (const st of k.steps) {
        v = (v as Record<string, unknown>)[st.key];
        if (st.array) v = (v as unknown[]).at(-1);
      }
      return !Value.Check(k.schema, v);
    });
    expect(refused.map((k) => `${k.path}: ${k.example.toml.split("\n").at(-1)}`)).toEqual([]);
  });

  test("a key the examples set takes its example from them; one with a default and no example shows the default", () => {
    const deadtime = keys.find((k) => k.path === "heartbeat.deadtime")!;
    expect(deadtime.example).toEqual({ toml: '[heartbeat]\ndeadtime = "1s"', from: "examples/pair.toml" });
    const port = keys.find((k) => k.path === "api.max_sse_clients")!;
    expect(port.example).toEqual({ toml: "[api]\nmax_sse_clients = 32", from: "the default" });
    expect(port.limits).toEqual(["1 to 1024"]);
  });
});

describe("tandem config explain", () => {
  test("prints one key as the reference has it; [[...]] and [N] spellings name the same key", async () => {
    const r = await tandem(["config", "explain", "heartbeat.links.kind"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${explainText(keys.find((k) => k.path === "heartbeat.links.kind")!)}\n`);
    expect((await tandem(["config", "explain", "heartbeat.links[0].kind"])).stdout).toBe(r.stdout);
    expect(r.stdout).toContain("type:");
    expect(r.stdout).toContain("example (");
  });

  test("a table's name prints each of its keys", async () => {
    const r = await tandem(["config", "explain", "runtime"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter((l) => /^\S/.test(l))).toEqual(keys.filter((k) => k.path.startsWith("runtime.")).map((k) => k.path));
  });

  test("an unknown key: exit 2, naming the keys it may have meant", async () => {
    const r = await tandem(["config", "explain", "deadtime"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no key "deadtime"; did you mean heartbeat.deadtime?');
    expect((await tandem(["config", "explain"])).code).toBe(2);
  });
});
