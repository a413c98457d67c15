/**
 * Holds the proxy bench's sides up for a manual look (strace, perf, wrk by
 * hand): two backends, HAProxy, and Tandem at BENCH_PROXY_WORKERS (default 1)
 * workers, once for each binary of TANDEM_BINS (a comma list, to compare
 * builds side by side; default TANDEM_BIN or dist/tandem); prints each
 * one's plain port and PID, ends them on SIGINT/SIGTERM.
 * `bun test/bench/proxy-hold.ts` (after `node scripts/build.mjs`).
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { backend, certificate, haproxy, tandem, type Side } from "./proxy-sides.ts";

const bins = (process.env.TANDEM_BINS ?? process.env.TANDEM_BIN ?? join(resolve(import.meta.dir, "../.."), "dist", "tandem")).split(",");
const workers = Number(process.env.BENCH_PROXY_WORKERS ?? 1);
const dir = mkdtempSync(join(tmpdir(), "tandem-proxy-hold-"));
chmodSync(dir, 0o755); // nginx's workers drop root and read the bodies from here
const sides: Side[] = [];
const backends = [await backend(dir, "backend-1"), await backend(dir, "backend-2")];
sides.push(...backends);
const setup = { dir, workers, backends, cert: certificate(dir) };
const started: Array<[string, Side]> = [["HAProxy", await haproxy(setup)]];
for (const [i, bin] of bins.entries()) started.push([bin, await tandem(bin, { ...setup, dir: join(dir, String(i)) })]);
for (const [name, s] of started) {
  sides.push(s);
  console.log(`${name} ${s.plain} ${s.pid}`);
}
const stop = async () => {
  for (const s of sides.reverse()) await s.stop();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
setInterval(() => undefined, 1 << 30);
