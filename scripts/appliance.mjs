#!/usr/bin/env node
// `npm run appliance`: set up (Debian packages as root), build dist/tandem, then
// the appliance (appliance/build.mjs): dist/appliance/{vmlinuz,vmlinux,initrd,tandem.efi}
// and dist/tandem-appliance.iso. Prints the time of each step and the whole.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const started = Date.now();
execFileSync("node", [join(root, "scripts", "setup.mjs")], { cwd: root, stdio: "inherit" });
execFileSync("node", [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" });
const { build } = await import("../appliance/build.mjs");
build();
console.log(`npm run appliance: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
