/**
 * `npm run bench`: every benchmark, each side by side with its anchor in the
 * same run, printed as Markdown tables. Not part of `npm test`.
 * `npm run bench -- NAME` runs the benchmarks whose file name contains NAME.
 */
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { render, type Table } from "./lib.ts";

const root = resolve(import.meta.dir, "../..");
const bin = process.env.TANDEM_BIN ?? join(root, "dist", "tandem");
const filter = process.argv[2] ?? "";

if (process.getuid?.() !== 0) {
  console.error("npm run bench needs root: the anchors run in network namespaces");
  process.exit(2);
}

const files = readdirSync(import.meta.dir).filter((f) => f.endsWith(".bench.ts") && f.includes(filter)).sort();
let failed = 0;
console.log(`# Tandem benchmarks (${new Date().toISOString()}, ${navigator.hardwareConcurrency} cores)\n`);
for (const f of files) {
  const mod = (await import(join(import.meta.dir, f))) as { bench(bin: string): Promise<Table> };
  try {
    console.log(render(await mod.bench(bin)));
  } catch (e) {
    failed++;
    console.log(`### ${f}: failed: ${(e as Error).message}\n`);
  }
}
process.exit(failed ? 1 : 0);
