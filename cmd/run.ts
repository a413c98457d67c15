import { hostname } from "node:os";
import { resolve as resolvePath } from "node:path";
import { type Command, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, VERSION, fail, parse } from "./cli.ts";
import { findSelf, loadConfig } from "../core/config/load.ts";
import { formatProblem } from "../core/config/problems.ts";
import { createLogger, type Logger } from "../core/log.ts";
import { EventBus } from "../core/events.ts";
import { Metrics } from "../core/metrics.ts";
import { realClock } from "../core/time.ts";
import { cryptoRandom } from "../core/random.ts";
import { Runtime } from "../core/runtime/runtime.ts";
import type { Listen } from "../core/api/server.ts";
import { parseIpv4 } from "../core/os/ip.ts";
import { raiseThread, type Priority } from "../core/os/sched.ts";
import { moduleDefs } from "../modules/index.ts";
import { Notifier, notifyEnv } from "../core/sd-notify.ts";

/** After a stop request, how long past the config's stop_timeout before the process exits regardless. */
const HARD_EXIT_GRACE_MS = 2000;

export function parseListen(text: string): Listen {
  const m = /^([\d.]+|localhost):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || (m[1] !== "localhost" && parseIpv4(m[1]!) === undefined) || port > 65535) fail(`--api expects HOST:PORT with an IPv4 host, like 127.0.0.1:9480; found "${text}"`);
  return { hostname: m[1]!, port };
}

/**
 * [runtime] priority: the control thread (this one) raised before the API and
 * checks workers exist, so they and every child start at normal priority.
 */
function raise(priority: Priority, log: Logger): number {
  const r = raiseThread(priority);
  if (r.ok) log.info({ tid: r.tid, priority: r.priority, scheduling: r.detail }, "control thread priority");
  else if (process.getuid?.() !== 0) log.info({ err: r.error }, `control thread at normal priority: priority "${priority}" needs root`);
  else log.warn({ err: r.error }, `control thread at normal priority: priority "${priority}" refused`);
  return r.ok && priority !== "normal" ? 1 : 0;
}

/**
 * mimalloc (Bun's allocator) hands idle pages back to the kernel 10 ms after
 * they are freed, and the data paths allocate and free a receive buffer per
 * read: every 64 KiB answer through the proxy then faulted its pages in
 * again (three page faults a request; 20% of its CPU in the bench). The node
 * runs with that purge off (`MIMALLOC_PURGE_DELAY=-1`, its memory stays at
 * its high-water mark) unless the operator set the variable: the process
 * execs itself once with it, before it opens anything (same PID, same
 * arguments).
 */
function keepFreedPages(): void {
  if (process.env.MIMALLOC_PURGE_DELAY !== undefined) return;
  const script = Bun.main.startsWith("/$bunfs/") ? [] : [Bun.main];
  process.execve!(process.execPath, [process.execPath, ...script, ...process.argv.slice(2)], { ...process.env, MIMALLOC_PURGE_DELAY: "-1" });
}

/**
 * systemd's notification protocol (Type=notify): READY=1 when the node runs
 * and again after a reload, RELOADING=1 on SIGHUP, STOPPING=1 when it stops,
 * STATUS= lines, and WATCHDOG=1 from this (the control) thread at half of
 * WATCHDOG_USEC. The variables are taken out of the environment, so that
 * resource agents and check commands do not inherit them. Returns what a
 * SIGHUP's outcome says (READY=1 at once when the reload changes nothing).
 */
function notifySystemd(events: EventBus, log: Logger): { reloading(): void; reloadDone(result: string): void } {
  const none = { reloading() {}, reloadDone() {} };
  let n: Notifier;
  try {
    const env = notifyEnv(process.env, process.pid);
    if (!env) return none;
    n = new Notifier(env, (message) => log.warn({ err: message }, "service manager notification failed"));
  } catch (e) {
    log.error({ err: (e as Error).message }, "cannot notify the service manager");
    return none;
  } finally {
    for (const k of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) delete process.env[k];
  }
  const env = n.env;
  log.info({ socket: env.socket, watchdogMs: env.watchdogMs ?? null }, "notifying the service manager");
  if (env.watchdogMs !== undefined) setInterval(() => n.send({ WATCHDOG: 1 }), env.watchdogMs).unref();
  // What a reload could not apply (a module that kept its old section, or failed), for its closing STATUS.
  let notApplied: string[] = [];
  events.subscribe((e) => {
    if (e.type === "runtime.starting") n.send({ STATUS: `starting ${(e.data.modules as string[]).join(", ")}` });
    else if (e.type === "runtime.running") n.send({ READY: 1, STATUS: "running" });
    else if (e.type === "runtime.module" && (e.data.reloadFailed !== undefined || e.data.state === "failed")) notApplied.push(`${e.data.module}: ${e.data.reloadFailed ?? e.data.error}`);
    else if (e.type === "runtime.reloaded") {
      n.send({ READY: 1, STATUS: notApplied.length ? `running (reload not applied to ${notApplied.join("; ")})` : "running (config reloaded)" });
      notApplied = [];
    } else if (e.type === "runtime.stopping") n.send({ STOPPING: 1, STATUS: "stopping" });
  });
  return {
    reloading: () => void n.send({ RELOADING: 1, STATUS: "reloading the config" }),
    reloadDone: (result) => {
      if (result !== "accepted") n.send({ READY: 1, STATUS: `running (reload ${result})` });
    },
  };
}

export const run: Command = {
  name: "run",
  summary: "run this node: start the modules its roles select",
  help: `Usage: tandem run -c FILE [--node NAME] [--api HOST:PORT] [--state-dir DIR]

Starts the modules that this node's roles select, in dependency order, and
serves the HTTP API. What must survive a restart (standby, moves, cleanups,
the director's overrides) is kept in DIR/NODE.state.json when the config's
state_dir or --state-dir names a DIR, else in memory only. Signals:
  SIGHUP          reload: the config is validated first; a bad one is refused
                  (the reason is logged) and the running one kept; a good one
                  is applied module by module, unchanged modules untouched
  SIGTERM/SIGINT  stop modules in reverse order within runtime.stop_timeout;
                  a second signal exits at once

Logs are JSON lines on stdout (human-readable when stdout is a terminal).

Options:
  -c, --config FILE     the cluster config (TOML)
  -n, --node NAME       which node this is (default: the host name)
      --api HOST:PORT   listen here instead of the configured API address
      --state-dir DIR   keep this node's state in DIR instead of the config's
                        state_dir (read at start; a reload does not change it)
  -h, --help            this help`,
  async main(argv) {
    const { values } = parse(argv, {
      config: { type: "string", short: "c" },
      node: { type: "string", short: "n" },
      api: { type: "string" },
      "state-dir": { type: "string" },
    });
    if (values.help) return void console.log(this.help), EXIT_OK;
    if (!values.config) fail("missing -c FILE");
    keepFreedPages();
    const apiOverride = values.api !== undefined ? parseListen(values.api) : undefined;
    if (values["state-dir"] === "") fail("--state-dir expects a directory");
    const stateDir = values["state-dir"] !== undefined ? resolvePath(values["state-dir"]) : undefined;
    const defs = moduleDefs(VERSION, apiOverride);
    const loaded = await loadConfig(values.config, defs);
    if (!loaded.ok) {
      for (const p of loaded.problems) console.error(`error: ${formatProblem(values.config, p)}`);
      return EXIT_USAGE;
    }
    const self = findSelf(loaded.config, values.node, hostname());
    if ("problem" in self) {
      console.error(`error: ${formatProblem(values.config, self.problem)}`);
      return EXIT_USAGE;
    }
    const config = loaded.config;
    const node = self.node;
    const log = createLogger({ level: config.log.level, node: node.name });
    for (const w of loaded.warnings) log.warn({ problem: formatProblem(values.config, w) }, "config warning");

    const events = new EventBus(node.name, realClock.wall);
    const metrics = new Metrics();
    metrics.gauge("tandem_build_info", "the running version").set(1, { version: VERSION });
    metrics.gauge("process_start_time_seconds", "start time of the process since the epoch").set(Math.floor(Date.now() / 1000));
    metrics.collect("process_resident_memory_bytes", "resident memory size", () => [{ labels: {}, value: process.memoryUsage().rss }]);
    metrics.gauge("tandem_control_priority_raised", "1 when the control thread runs at the priority [runtime] priority asks for (high or realtime)").set(raise(config.runtime.priority, log));
    const eventCount = metrics.counter("tandem_events_total", "events emitted, by type");
    events.subscribe((e) => {
      eventCount.inc({ type: e.type });
      log.info({ event: e.type, ...e.data }, e.type);
    });

    const systemd = notifySystemd(events, log);

    return new Promise<number>((resolve) => {
      let stopping = false;
      let runtime: Runtime;
      try {
        runtime = new Runtime({
          defs,
          config,
          stateDir,
          node,
          clock: realClock,
          random: cryptoRandom(),
          log,
          events,
          metrics,
          version: VERSION,
          onExit: (code) => {
            log.info({ code }, "exiting");
            resolve(code);
          },
        });
      } catch (e) {
        log.error({ err: (e as Error).message }, "the state dir cannot be used; not starting");
        return resolve(EXIT_FAILURE);
      }
      const onStop = (signal: string) => {
        if (stopping) {
          log.warn({ signal }, "second stop signal: exiting now");
          process.exit(EXIT_FAILURE);
        }
        stopping = true;
        log.info({ signal }, "stopping");
        setTimeout(() => {
          log.error("stop bound exceeded: exiting");
          process.exit(EXIT_FAILURE);
        }, runtime.config.runtime.stopTimeoutMs + HARD_EXIT_GRACE_MS).unref();
        runtime.stop();
      };
      process.on("SIGTERM", () => onStop("SIGTERM"));
      process.on("SIGINT", () => onStop("SIGINT"));
      process.on("SIGHUP", () => {
        log.info("SIGHUP: reloading config");
        systemd.reloading();
        void runtime.reload().then((outcome) => systemd.reloadDone(outcome.result));
      });
      runtime.start();
    });
  },
};
