/**
 * ns per pick + release for each algorithm over 16 servers (not in npm test):
 *   node_modules/.bin/bun test/modules/proxy/balance/pick.bench.ts
 */
import { BALANCE } from "../../../../modules/proxy/config.ts";
import type { PickRequest } from "../../../../modules/proxy/balance/balancer.ts";
import { backend, balancer } from "./helpers.ts";

const N = 1_000_000;
const sources = Array.from({ length: 1024 }, (_, i) => `198.19.${i >> 8}.${i & 255}`);
const uris = Array.from({ length: 1024 }, (_, i) => `/item/${i}?user=u${i}&x=1`);
for (const balance of BALANCE.filter((b) => !process.argv[2] || b === process.argv[2])) {
  const { b } = balancer(backend(Array.from({ length: 16 }, (_, i) => ({ weight: 1 + (i % 3) })), { balance, hash_key: balance === "url_param" ? "user" : balance === "hdr" ? "x-user" : undefined }));
  const req: PickRequest<number> = { handle: 0, source: "", now: 0, header: (name) => (name === "x-user" ? req.uri : undefined) };
  // a few requests stay in flight, so leastconn and random see loads
  const held = Array.from({ length: 32 }, () => b.pick(req));
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    req.source = sources[i & 1023]!;
    req.uri = uris[i & 1023]!;
    const s = b.pick(req);
    if (typeof s !== "string") b.release(s);
  }
  const ns = ((performance.now() - start) * 1e6) / N;
  console.log(`${balance.padEnd(10)} ${ns.toFixed(0).padStart(5)} ns per pick + release (${held.length} held)`);
}
