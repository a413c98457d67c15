#!/usr/bin/env node
// `npm test`: set up, type-check, build dist/tandem, run every test tier that
// can run here, and end with one line: `N passed, N failed[, N skipped]`.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
let passed = 0;
let failed = 0;
let skipped = 0;

function step(name, cmd, args, env = {}) {
  console.log(`\n== ${name}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  process.stdout.write(r.stdout ?? "");
  process.stderr.write(r.stderr ?? "");
  return { ok: r.status === 0, out: `${r.stdout ?? ""}\n${r.stderr ?? ""}`, err: r.stderr ?? "" };
}

/** How many lines of a failed test's report are repeated at the end. */
const FAILURE_LINES = 80;

/**
 * bun test prints a failure's error above its `(fail)` line, amid hundreds of
 * passes; CI keeps only the end of the log. Each failure's report (from the
 * line after the previous result or file header to its `(fail)` line) is
 * printed again just before the count, so the end of the log says why.
 */
function reprintFailures(stderr) {
  const lines = stderr.split("\n");
  // A result, a file's header, or the heading of bun's closing list of failures (whose entries have no report).
  const boundary = (l) => /^\((pass|fail|skip|todo)\) /.test(l) || /^\S.*\.(ts|tsx|js|mjs):$/.test(l) || /^\d+ tests? (failed|skipped|todo):$/.test(l);
  const reports = [];
  lines.forEach((line, i) => {
    if (!line.startsWith("(fail) ")) return;
    let from = i;
    while (from > 0 && !boundary(lines[from - 1])) from--;
    if (from === i) return;
    reports.push(lines.slice(Math.max(from, i - FAILURE_LINES), i + 1).join("\n"));
  });
  if (reports.length) console.log(`\n== the failures again (each report as printed above)\n${reports.join("\n\n")}`);
}

function check(name, cmd, args) {
  const { ok } = step(name, cmd, args);
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "PASS" : "FAIL"} ${name}`);
  return ok;
}

const setup = spawnSync("node", [join(root, "scripts", "setup.mjs")], { cwd: root, stdio: "inherit" });
if (setup.status !== 0) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}

check("type check (tsc --noEmit, strict)", bin("tsc"), ["--noEmit", "-p", "."]);
const built = check("build dist/tandem", "node", [join(root, "scripts", "build.mjs")]);

const tiers = process.argv.slice(2).length ? process.argv.slice(2) : ["test"];
const run = step("bun test " + tiers.join(" "), bin("bun"), ["test", "--timeout", "120000", ...tiers], built ? { TANDEM_BIN: join(root, "dist", "tandem") } : {});
const count = (word) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(run.out)?.[1] ?? 0);
passed += count("pass");
failed += count("fail");
skipped += count("skip");
if (!run.ok && count("fail") === 0) failed++;
reprintFailures(run.err);

console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed ? 1 : 0);
