/**
 * One node of a replicated volume's pair, for the replication bench:
 * `volume-serve.ts alpha|bravo FILE SOCKET PORT PEER_PORT` runs that node's
 * replication thread in its own worker, as a node runs it
 * (modules/replication/worker.ts), in a process of its own, as two nodes
 * are: FILE its backing file (metadata beside it), its peer link on
 * 127.0.0.1:PORT, the peer's on 127.0.0.1:PEER_PORT, protocol C, the link
 * authenticated with the cluster key in TANDEM_BENCH_KEY (hex; both nodes
 * get the same), sealed as well with BENCH_REPLICATION_ENCRYPT=1.
 * bravo starts and waits. alpha is promoted (forced: the volume is new),
 * resyncs bravo in full, and serves the volume over NBD on SOCKET; it
 * prints "ready: resynced N bytes in T ms" once connected and in sync (T
 * from the promotion: the full resync of a new volume). Both stop on
 * SIGTERM. Run by the compiled binary as `BUN_BE_BUN=1 tandem volume-serve.ts ...`.
 */
import { statSync } from "node:fs";
import { retireWorker, workerEntry } from "../../core/threads.ts";
import { realClock } from "../../core/time.ts";
import { AL_EXTENT_BYTES, HOT_EXTENTS, RESYNC_BATCH_BYTES, RESYNC_WINDOW_BYTES } from "../../modules/replication/config.ts";
import type { FromReplicationWorker, ToReplicationWorker, VolumeSpec } from "../../modules/replication/messages.ts";
import type { VolumeStatus } from "../../modules/replication/volume.ts";

const [self, file, socket, port, peerPort] = process.argv.slice(2);
const key = process.env.TANDEM_BENCH_KEY ?? "";
if ((self !== "alpha" && self !== "bravo") || !file || !socket || !port || !peerPort || !/^([0-9a-f]{2})+$/.test(key)) {
  console.error("usage: TANDEM_BENCH_KEY=HEX volume-serve.ts alpha|bravo FILE SOCKET PORT PEER_PORT");
  process.exit(2);
}
const READY_MS = 120_000;
const REGION = 4096;
const size = statSync(file).size;
const keys = { active: 1, keys: new Map([[1, Uint8Array.from(Buffer.from(key, "hex"))]]) };

const spec: VolumeSpec = {
  params: {
    volume: "bench",
    self,
    peer: self === "alpha" ? "bravo" : "alpha",
    size,
    regionBytes: REGION,
    protocol: "C",
    splitBrain: "disconnect",
    extentRegions: AL_EXTENT_BYTES / REGION,
    hotExtents: HOT_EXTENTS,
    window: RESYNC_WINDOW_BYTES / REGION,
    batchRegions: RESYNC_BATCH_BYTES / REGION,
  },
  device: file,
  metadata: "external",
  self: { address: "127.0.0.1", port: Number(port) },
  peer: { address: "127.0.0.1", port: Number(peerPort) },
  resyncRate: 16 * 2 ** 30,
  encrypt: process.env.BENCH_REPLICATION_ENCRYPT === "1",
  socket,
};

/** The replication thread, and a way to ask it something and wait for the answer. */
const worker = new Worker(workerEntry("modules/replication/worker.ts"));
const waiting: Array<(m: FromReplicationWorker) => boolean> = [];
worker.onmessage = (e: MessageEvent<FromReplicationWorker>) => {
  const i = waiting.findIndex((w) => w(e.data));
  if (i >= 0) waiting.splice(i, 1);
};
const ask = <T>(m: ToReplicationWorker, pick: (m: FromReplicationWorker) => T | undefined): Promise<T> =>
  new Promise((resolve) => {
    waiting.push((r) => {
      const v = pick(r);
      if (v === undefined) return false;
      resolve(v);
      return true;
    });
    worker.postMessage(m);
  });
const status = () => ask({ type: "status" }, (m) => (m.type === "status" ? m.volumes[0]! : undefined)) as Promise<VolumeStatus>;

process.on("SIGTERM", () => void retireWorker(worker, realClock, 5000).then(() => process.exit(0)));
const started = await ask({ type: "start", cluster: "bench", keys, volumes: [spec] }, (m) => (m.type === "started" || m.type === "failed" ? m : undefined));
if (started.type === "failed") throw new Error(started.message);
if (self === "alpha") {
  const began = performance.now();
  const forced = await ask({ type: "command", id: 1, volume: "bench", command: "promote-force" }, (m) => (m.type === "result" ? m : undefined));
  if (forced.refused) throw new Error(`alpha refused the promotion: ${forced.refused}`);
  const deadline = Date.now() + READY_MS;
  // In sync: connected (the resync as source done) with nothing out of sync.
  for (let s = await status(); s.connection !== "connected" || s.outOfSyncBytes > 0; s = await status()) {
    if (Date.now() > deadline) throw new Error(`the pair did not connect in sync within ${READY_MS} ms: ${s.connection}, ${s.outOfSyncBytes} bytes out of sync`);
    await Bun.sleep(10);
  }
  console.log(`ready: resynced ${size} bytes in ${(performance.now() - began).toFixed(0)} ms`);
}
