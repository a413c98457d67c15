#!/usr/bin/env node
// `npm start`: bring up the demo lab (examples/demo.toml): two nodes, a client
// and two real servers in network namespaces, each node running dist/tandem.
// Creates the demo's key and token on first use. Prints where to look.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, writeFileSync, chmodSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "dist", "tandem");
const config = join(root, "examples", "demo.toml");
const key = join(root, "examples", "demo.key");
const token = join(root, "examples", "demo.token");

if (process.getuid?.() !== 0) {
  console.error("npm start builds a lab of network namespaces and needs root.");
  process.exit(2);
}
if (!existsSync(key)) execFileSync(bin, ["keygen", "-o", key], { stdio: "inherit" });
if (!existsSync(token)) {
  writeFileSync(token, randomBytes(24).toString("hex") + "\n", { mode: 0o600 });
  chmodSync(token, 0o600);
}
const status = spawnSync(bin, ["lab", "status", "--name", "demo", "--json"], { encoding: "utf8" });
if (status.status === 0 && JSON.parse(status.stdout).labs?.length) {
  console.log("The demo lab is already up; `dist/tandem lab down --name demo` removes it.");
  execFileSync(bin, ["lab", "status", "--name", "demo"], { stdio: "inherit" });
  process.exit(0);
}
const up = spawnSync(bin, ["lab", "up", "-c", config, "--name", "demo"], { stdio: "inherit" });
if (up.status !== 0) process.exit(up.status ?? 1);
const lab = JSON.parse(execFileSync(bin, ["lab", "status", "--name", "demo", "--json"], { encoding: "utf8" })).labs[0];
console.log("\ndashboards (every node serves one, on its API address):");
for (const h of lab.hosts.filter((h) => h.api)) console.log(`  ${h.name.padEnd(6)} ${h.api}`);
console.log(`API token for POST endpoints: ${token}`);
console.log(`\nresources: dist/tandem status -c examples/demo.toml   (the group "web" holds 198.18.7.50)`);
console.log(`failover:  dist/tandem lab fault alpha kill --name demo, then heal alpha`);
