/**
 * Health checks: how many HTTP checks per second the checks module sustains,
 * and what they cost. Two real servers (`tandem lab realserver` on loopback)
 * behind 200 services of 2 servers each, every server checked by HTTP GET
 * every 100 ms (4,000 checks a second asked for) with the default concurrency
 * of 64, for 10 s after 2 s of warm-up. No anchor: ldirectord is not packaged
 * here and keepalived's checker needs IPVS to run, which this kernel lacks.
 */
import { freePort } from "../helpers.ts";
import { Checker } from "../../modules/checks/service.ts";
import { CHECKERS } from "../../modules/checks/checkers.ts";
import type { ServiceRaw } from "../../modules/checks/config.ts";
import { realClock } from "../../core/time.ts";
import { cryptoRandom } from "../../core/random.ts";
import type { Table } from "./lib.ts";

const SERVICES = 200;
const INTERVAL_MS = 100;
const CONCURRENCY = 64;
const WARMUP_MS = 2000;
const WINDOW_MS = 10_000;

export async function bench(bin: string): Promise<Table> {
  const ports = [await freePort(), await freePort()];
  const servers = ports.map((port, i) => Bun.spawn([bin, "lab", "realserver", "--name", `rs${i + 1}`, "--listen", `127.0.0.1:${port}`], { stdout: "ignore", stderr: "ignore" }));
  try {
    await Bun.sleep(500);
    const services: ServiceRaw[] = Array.from({ length: SERVICES }, (_, i) => ({
      name: `svc-${i}`,
      servers: ports.map((port) => ({ address: "127.0.0.1", port, weight: 1 })),
      check: { kind: "http", interval: `${INTERVAL_MS}ms`, timeout: "1s", rise: 2, fall: 3, path: "/", status: "200-399", verify_tls: false, dynamic_weight: false, query_type: "A" },
    }));
    let ok = 0;
    let failed = 0;
    const checker = new Checker({
      services,
      concurrency: CONCURRENCY,
      initial: "up",
      clock: realClock,
      random: cryptoRandom(),
      checkers: {
        ...CHECKERS,
        http: async (target, check, signal) => {
          const r = await CHECKERS.http(target, check, signal);
          if (r.ok) ok++;
          else failed++;
          return r;
        },
      },
    });
    checker.start();
    await Bun.sleep(WARMUP_MS);
    const [ok0, failed0, cpu0, t0] = [ok, failed, process.cpuUsage(), performance.now()];
    await Bun.sleep(WINDOW_MS);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    checker.stop();
    const done = ok - ok0;
    const cpuPct = ((cpu.user + cpu.system) / 1e6 / seconds) * 100;
    return {
      title: "Health checks: sustained HTTP checks per second",
      anchor: "none (see method)",
      method: `${SERVICES * 2} servers (2 real servers behind ${SERVICES} services), each checked by HTTP GET every ${INTERVAL_MS} ms (${(SERVICES * 2 * 1000) / INTERVAL_MS} checks/s asked for), concurrency ${CONCURRENCY}, over ${WINDOW_MS / 1000} s after ${WARMUP_MS / 1000} s of warm-up, in the bench's own process. No anchor: ldirectord is not packaged here and keepalived's checker needs IPVS, which this kernel lacks.`,
      rows: [
        { figure: "checks completed per second", unit: "checks/s", tandem: done / seconds, anchor: NaN, better: "higher" },
        { figure: "failed checks in the window", unit: "count", tandem: failed - failed0, anchor: NaN, better: "lower" },
        { figure: "CPU of the checking process", unit: "% of a core", tandem: cpuPct, anchor: NaN, better: "lower" },
        { figure: "CPU per 1,000 checks", unit: "ms", tandem: (((cpu.user + cpu.system) / 1000) / done) * 1000, anchor: NaN, better: "lower" },
      ],
    };
  } finally {
    for (const s of servers) s.kill("SIGKILL");
  }
}
