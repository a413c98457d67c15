/**
 * One proxy data path in this thread (no worker, no control side), for a
 * profile of the data path alone: `bun --cpu-prof test/bench/proxy-dp.ts
 * PORT SECONDS BACKEND_PORT...` listens on 127.0.0.1:PORT, balances
 * roundrobin over the backends and exits after SECONDS (so the profile is written).
 */
import { workerConfig, inProcess } from "../modules/proxy/datapath/harness.ts";

const [port, seconds, ...backends] = process.argv.slice(2).map(Number);
const { dp } = inProcess();
dp.configure(workerConfig([{ name: "fe", bind: [`127.0.0.1:${port}`], default_backend: "be" }], [{ name: "be", pool_idle: 512, servers: backends.map((p) => ({ port: p })) }]));
dp.servers(backends.map((p) => ({ backend: "be", key: `svc/127.0.0.1:${p}`, up: true, admin: "ready", weight: 1 })));
setTimeout(() => process.exit(0), seconds! * 1000);
