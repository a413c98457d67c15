/**
 * A stand-in for the proxy's data-path worker (modules/proxy/worker.ts) that
 * keeps its side of messages.ts and serves nothing: `configure` is answered
 * `listening` with its generation (or an error for a frontend bound to
 * REFUSED_ADDRESS), `stats` with the counters it was last given, `stop` with
 * `stopped`. It reports each message it receives on the BroadcastChannel
 * DOUBLE_CHANNEL, by its threadId, and takes orders there: `say` (send the
 * control thread a message, as a real worker would), `stats` (the counters
 * to answer with), `exit` (the thread ends, as a crashed one).
 */
import { threadId } from "node:worker_threads";
import type { FromWorker, ToWorker, WorkerStats } from "../../../../modules/proxy/messages.ts";
import { DOUBLE_CHANNEL, REFUSED_ADDRESS, type Order, type Report } from "./double.ts";

declare const self: Worker;

const channel = new BroadcastChannel(DOUBLE_CHANNEL);
let stats: WorkerStats = { frontends: {}, backends: {}, accessLogDropped: 0 };
const tell = (m: FromWorker) => self.postMessage(m);

channel.onmessage = (e) => {
  const o = e.data as Order;
  if (o.thread !== threadId) return;
  if (o.type === "say") tell(o.message);
  else if (o.type === "stats") stats = o.stats;
  else process.exit(3);
};

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  channel.postMessage({ thread: threadId, message: m } satisfies Report);
  if (m.type === "configure") {
    const refused = m.config.frontends.some((f) => f.bind.some((b) => b.startsWith(`${REFUSED_ADDRESS}:`)));
    tell({ type: "listening", generation: m.config.generation, ...(refused ? { error: `bind ${REFUSED_ADDRESS}: EADDRNOTAVAIL` } : {}) });
  } else if (m.type === "stats") tell({ type: "stats", stats });
  else if (m.type === "stop") tell({ type: "stopped" });
};
