/**
 * A proxy data-path thread: the entry of a Bun Worker that the proxy's
 * control side starts, `[proxy] workers` of them. It serves the frontends
 * of the config it was given (see datapath/) and answers the control side's
 * messages (messages.ts). scripts/build.mjs compiles it into the binary.
 */
import { DataPath } from "./datapath/datapath.ts";
import type { FromWorker, ToWorker } from "./messages.ts";

declare const self: Worker;

const post = (m: FromWorker) => self.postMessage(m);
const dp = new DataPath(post);

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "configure":
      dp.configure(m.config, m.worker, m.node);
      break;
    case "servers":
      dp.servers(m.states);
      break;
    case "stick":
      dp.stick(m.entries);
      break;
    case "stats":
      post({ type: "stats", stats: dp.stats() });
      break;
    case "stop":
      void dp.stop().then(() => post({ type: "stopped" }));
      break;
  }
};
