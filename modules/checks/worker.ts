/**
 * The checks' thread: runs the Checker (engine, shell, checkers) off the
 * control thread, so no probe, TLS handshake or misc process ever takes a
 * turn of the heartbeat's loop. It is told what to check and answers with
 * health; see messages.ts for the messages and their bounds. The entry of a
 * Bun Worker (scripts/build.mjs compiles it into the binary).
 */
import { cryptoRandom } from "../../core/random.ts";
import { realClock } from "../../core/time.ts";
import { CHANGE_BATCH_MS, type FromWorker, type ToWorker } from "./messages.ts";
import type { ServerChange } from "./engine.ts";
import { Checker } from "./service.ts";

declare const self: Worker;

const post = (m: FromWorker) => self.postMessage(m);
let checker: Checker | null = null;
/** By server key: the newest change not yet sent, its `previous` the one before the first. */
const pending = new Map<string, ServerChange>();
let flushTimer: ReturnType<typeof setTimeout> | null = null;

function flush(): void {
  if (flushTimer) clearTimeout(flushTimer);
  flushTimer = null;
  if (!pending.size) return;
  post({ type: "changes", changes: [...pending.values()] });
  pending.clear();
}

function changed(c: ServerChange): void {
  const first = pending.get(c.key);
  pending.set(c.key, first ? { ...c, previous: first.previous } : c);
  flushTimer ??= setTimeout(flush, CHANGE_BATCH_MS);
}

function health(): FromWorker {
  return { type: "health", servers: (checker?.status() ?? []).flatMap((s) => s.servers.map((sv) => ({ key: sv.key, service: s.name, server: sv.server, state: sv.state, healthy: sv.healthy, weight: sv.weight }))) };
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case "configure":
      if (checker) checker.reload(m.services, m.p);
      else {
        checker = new Checker({ services: m.services, ...m.p, clock: realClock, random: cryptoRandom(), onChange: changed });
        checker.start();
      }
      flush();
      post(health());
      break;
    case "status":
      post({ type: "status", services: checker?.status() ?? [] });
      break;
    case "stop":
      checker?.stop();
      checker = null;
      pending.clear();
      post({ type: "stopped" });
      break;
  }
};
