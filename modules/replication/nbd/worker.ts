/**
 * The NBD server's thread: the entry of a Bun Worker (thread.ts starts
 * it) that opens file-backed exports and serves them (server.ts), so the
 * data path never runs on the heartbeat's thread. scripts/build.mjs
 * compiles it into the binary.
 */
import type { FromNbdWorker, ToNbdWorker } from "./messages.ts";
import { NbdServer } from "./server.ts";
import { FileStore } from "./store.ts";

declare const self: Worker;

const post = (m: FromNbdWorker) => self.postMessage(m);
let server: NbdServer | null = null;
const stores: FileStore[] = [];

function start(m: Extract<ToNbdWorker, { type: "start" }>): void {
  try {
    for (const e of m.exports) stores.push(FileStore.open(e.path, { readOnly: e.readOnly }));
    server = new NbdServer(m.exports.map((e, i) => ({ ...e, store: stores[i]!, multiConn: true })));
    post({ type: "listening", port: server.listen(m.listen).port });
  } catch (e) {
    post({ type: "failed", message: (e as Error).message });
  }
}

self.onmessage = (e: MessageEvent<ToNbdWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "start":
      start(m);
      break;
    case "stats":
      if (server) post({ type: "stats", stats: server.stats });
      break;
    case "stop":
      void (server?.stop() ?? Promise.resolve()).then(() => {
        for (const s of stores) s.close();
        post({ type: "stopped" });
      });
      break;
  }
};
