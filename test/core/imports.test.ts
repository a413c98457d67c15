/**
 * The import graph of the source tree: core imports no module, lab, cmd or
 * import code; no module imports lab or cmd; and no file reaches itself
 * through its imports (type-only imports included).
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const TREES = ["core", "modules", "cmd", "lab", "import"];

/** Every specifier of an import or export-from statement, `import type` and `import("…")` included. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const statement = /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']/g;
  const dynamic = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
  for (const m of source.matchAll(statement)) out.push(m[1]!);
  for (const m of source.matchAll(dynamic)) out.push(m[1]!);
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** file (relative to the root) -> the files of the tree it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of TREES.flatMap((t) => tsFiles(join(ROOT, t)))) {
    const targets = importsOf(readFileSync(file, "utf8"))
      .filter((s) => s.startsWith("."))
      .map((s) => relative(ROOT, resolve(dirname(file), s)));
    graph.set(relative(ROOT, file), targets);
  }
  return graph;
}

const treeOf = (file: string): string => file.split("/")[0]!;

const FORBIDDEN: Record<string, readonly string[]> = {
  core: ["modules", "lab", "cmd", "import"],
  modules: ["lab", "cmd"],
};

/** Each cycle once, as the files around it, starting at its first file in sorted order. */
export function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === "open") {
        const cycle = stack.slice(stack.indexOf(next));
        const first = cycle.indexOf([...cycle].sort()[0]!);
        const rotated = [...cycle.slice(first), ...cycle.slice(0, first)];
        cycles.set(rotated.join(" -> "), rotated);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return [...cycles.values()];
}

describe("import graph", () => {
  const graph = importGraph();

  test("the parser sees every kind of import statement", () => {
    const src = `import a from "./a.ts";\nimport type { B } from "./b.ts";\nimport {\n  c,\n  type D,\n} from "./c.ts";\nexport { e } from "./e.ts";\nexport * from "./f.ts";\nimport "./g.ts";\nconst h = await import("./h.ts");\n// "./not-an-import.ts"\n`;
    expect(importsOf(src)).toEqual(["./a.ts", "./b.ts", "./c.ts", "./e.ts", "./f.ts", "./g.ts", "./h.ts"]);
  });

  test("the cycle finder reports a cycle once, from its first file", () => {
    const g = new Map([
      ["b", ["c"]],
      ["c", ["a"]],
      ["a", ["b", "d"]],
      ["d", []],
    ]);
    expect(cyclesOf(g)).toEqual([["a", "b", "c"]]);
  });

  test("reads the whole tree", () => {
    expect(graph.has("core/module.ts")).toBe(true);
    expect(graph.has("modules/index.ts")).toBe(true);
    expect(graph.has("cmd/tandem.ts")).toBe(true);
  });

  test("core imports no module, lab, cmd or import code; modules import no lab or cmd code", () => {
    const arrows: string[] = [];
    for (const [file, targets] of graph)
      for (const target of targets)
        if (FORBIDDEN[treeOf(file)]?.includes(treeOf(target))) arrows.push(`${file} -> ${target}`);
    expect(arrows).toEqual([]);
  });

  test("no import circle", () => {
    expect(cyclesOf(graph).map((c) => [...c, c[0]].join(" -> "))).toEqual([]);
  });
});
