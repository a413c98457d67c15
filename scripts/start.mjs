#!/usr/bin/env node
// `npm start`: bring up the demo lab, the demo compiled into dist/tandem
// (examples/demo.toml): a pair holding a virtual address, the director
// (port 80) and the proxy (port 8080) spreading the client over two real
// servers with health checks, on a replicated volume (primary where the group
// runs), all in network namespaces on this machine. `tandem lab up` writes the demo's
// config, key and token to /run/tandem/lab/demo/. Ends with the URL to open.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "dist", "tandem");

if (process.getuid?.() !== 0) {
  console.error("npm start builds a lab of network namespaces and needs root.");
  process.exit(2);
}
const status = spawnSync(bin, ["lab", "status", "--name", "demo", "--json"], { encoding: "utf8" });
const lab = status.status === 0 ? JSON.parse(status.stdout).labs?.[0] : undefined;
if (lab) {
  console.log(`The demo lab is already up (\`dist/tandem lab down --name demo\` removes it).`);
  console.log(`\nopen ${lab.hosts.find((h) => h.api)?.api} (the dashboard)`);
  process.exit(0);
}
const up = spawnSync(bin, ["lab", "up", "--name", "demo"], { stdio: "inherit" });
process.exit(up.status ?? 1);
