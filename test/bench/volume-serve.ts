/**
 * A replicated volume's pair in one process, for the replication bench:
 * `volume-serve.ts FILE_A FILE_B SOCKET PORT_A PORT_B [NBD_PORT]` runs the
 * replication thread of "alpha" (FILE_A, its link on 127.0.0.1:PORT_A) and
 * of "bravo" (FILE_B, PORT_B), each in its own worker as a node runs it
 * (modules/replication/worker.ts), protocol C, metadata beside the files, the link authenticated (sealed
 * as well with BENCH_REPLICATION_ENCRYPT=1).
 * Alpha is promoted (forced: the volume is new), resyncs bravo in full,
 * and then serves the volume over NBD on SOCKET (and TCP 127.0.0.1:NBD_PORT).
 * Prints "ready: resynced N bytes in T ms" once the pair is connected and in
 * sync (T from the promotion: the full resync of a new volume); stops on SIGTERM.
 * Run by the compiled binary as `BUN_BE_BUN=1 tandem volume-serve.ts ...`.
 */
import { statSync } from "node:fs";
import { newKey } from "../../core/crypto/keyfile.ts";
import { retireWorker, workerEntry } from "../../core/threads.ts";
import { realClock } from "../../core/time.ts";
import { AL_EXTENT_BYTES, HOT_EXTENTS, RESYNC_BATCH_BYTES, RESYNC_WINDOW_BYTES } from "../../modules/replication/config.ts";
import type { FromReplicationWorker, ToReplicationWorker, VolumeSpec } from "../../modules/replication/messages.ts";
import type { VolumeStatus } from "../../modules/replication/volume.ts";

const [fileA, fileB, socket, portA, portB, nbdPort] = process.argv.slice(2);
if (!fileA || !fileB || !socket || !portA || !portB) {
  console.error("usage: volume-serve.ts FILE_A FILE_B SOCKET PORT_A PORT_B [NBD_PORT]");
  process.exit(2);
}
const READY_MS = 120_000;
const REGION = 4096;
const size = statSync(fileA).size;
const keys = { active: 1, keys: new Map([[1, await newKey()]]) };

function spec(self: string, peer: string, device: string, selfPort: string, peerPort: string): VolumeSpec {
  return {
    params: {
      volume: "bench",
      self,
      peer,
      size,
      regionBytes: REGION,
      protocol: "C",
      splitBrain: "disconnect",
      extentRegions: AL_EXTENT_BYTES / REGION,
      hotExtents: HOT_EXTENTS,
      window: RESYNC_WINDOW_BYTES / REGION,
      batchRegions: RESYNC_BATCH_BYTES / REGION,
    },
    device,
    metadata: "external",
    self: { address: "127.0.0.1", port: Number(selfPort) },
    peer: { address: "127.0.0.1", port: Number(peerPort) },
    resyncRate: 16 * 2 ** 30,
    encrypt: process.env.BENCH_REPLICATION_ENCRYPT === "1",
    socket: self === "alpha" ? socket! : `${socket}.bravo`,
    ...(self === "alpha" && nbdPort ? { nbdPort: Number(nbdPort) } : {}),
  };
}

/** A replication thread, and a way to ask it something and wait for the answer. */
function thread(s: VolumeSpec) {
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
  return {
    worker,
    start: () => ask({ type: "start", cluster: "bench", keys, volumes: [s] }, (m) => (m.type === "started" || m.type === "failed" ? m : undefined)),
    command: (command: "promote-force") => ask({ type: "command", id: 1, volume: "bench", command }, (m) => (m.type === "result" ? m : undefined)),
    status: () => ask({ type: "status" }, (m) => (m.type === "status" ? m.volumes[0]! : undefined)) as Promise<VolumeStatus>,
  };
}

const alpha = thread(spec("alpha", "bravo", fileA, portA, portB));
const bravo = thread(spec("bravo", "alpha", fileB, portB, portA));
for (const t of [alpha, bravo]) {
  const r = await t.start();
  if (r.type === "failed") throw new Error(r.message);
}
const began = performance.now();
const forced = await alpha.command("promote-force");
if (forced.refused) throw new Error(`alpha refused the promotion: ${forced.refused}`);
const deadline = Date.now() + READY_MS;
for (;;) {
  const [a, b] = [await alpha.status(), await bravo.status()];
  if (a.connection === "connected" && b.connection === "connected" && b.disk === "up-to-date") break;
  if (Date.now() > deadline) throw new Error(`the pair did not connect in sync within ${READY_MS} ms: ${a.connection}/${b.connection}`);
  await Bun.sleep(10);
}
const resyncMs = performance.now() - began;
process.on("SIGTERM", () => void Promise.all([alpha, bravo].map((t) => retireWorker(t.worker, realClock, 5000))).then(() => process.exit(0)));
console.log(`ready: resynced ${size} bytes in ${resyncMs.toFixed(0)} ms`);
