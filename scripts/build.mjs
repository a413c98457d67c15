#!/usr/bin/env node
// `npm run build`: compile the whole program into one executable, dist/tandem,
// with the entries of its worker threads (each `new Worker(...)` names one).
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
mkdirSync(join(root, "dist"), { recursive: true });
execFileSync(join(root, "node_modules", ".bin", "bun"), ["build", "--compile", "--minify-syntax", "cmd/tandem.ts", "modules/checks/worker.ts", "modules/checks/regex-worker.ts", "modules/proxy/worker.ts", "core/api/worker.ts", "modules/replication/nbd/worker.ts", "modules/replication/worker.ts", "modules/replication/attach.ts", "--outfile", "dist/tandem"], { cwd: root, stdio: "inherit" });
