/**
 * Replication: the NBD data path, Tandem's server (unreplicated, a file
 * store, from its own thread: `nbd-serve.ts`) beside nbdkit's file plugin
 * on the same 1 GiB file (random data), over a unix socket and over TCP
 * loopback, driven by fio's nbd ioengine: sequential write and read
 * throughput (1 MiB blocks, 8 in flight) and 4 KiB random write IOPS at
 * queue depths 1 and 32. Each figure runs ROUNDS times per side, sides
 * alternating, SECONDS each; the median is kept. The file is on tmpfs
 * (/dev/shm; BENCH_REPLICATION_DIR moves it): on a disk, the kernel's
 * writeback of a 1 GiB file rewritten over and over, and whatever else
 * the machine writes, move the figures more than the servers do. The
 * issue's goal: 1.0× nbdkit or better.
 *
 * Then protocol C: first the full resync of a new 1 GiB volume (random
 * data) to the peer, beside nbdcopy copying the same file from one nbdkit
 * export to another over TCP loopback (median of ROUNDS copies; the resync
 * runs once, as the pair starts); then a replicated pair, one process a
 * node (`volume-serve.ts`: alpha's and bravo's replication threads, the peer link on TCP loopback,
 * authenticated as between two nodes), served on a unix socket, beside Tandem
 * unreplicated, alternating the same way. The goal: 0.7× of unreplicated
 * or better on sequential writes.
 *
 * Knobs: BENCH_REPLICATION_SECONDS (5), BENCH_REPLICATION_ROUNDS (3),
 * BENCH_REPLICATION_DIR, BENCH_REPLICATION_ONLY (a comma-separated list of
 * unix, tcp and protocol-c: only those rows; without protocol-c no pair is
 * started nor resynced), BENCH_REPLICATION_ENCRYPT=1 (the pair's link
 * sealed: `encrypt = true`).
 */
import { spawnSync } from "node:child_process";
import { randomBytes, randomFillSync } from "node:crypto";
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { freePort, tempDir } from "../helpers.ts";
import { median, type Row, type Table } from "./lib.ts";

const FILE_BYTES = 1 << 30;
const SECONDS = Number(process.env.BENCH_REPLICATION_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_REPLICATION_ROUNDS ?? 3);
const PARTS = ["unix", "tcp", "protocol-c"] as const;
const ONLY = (process.env.BENCH_REPLICATION_ONLY ?? PARTS.join(",")).split(",").map((p) => p.trim());
for (const p of ONLY) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`BENCH_REPLICATION_ONLY: ${JSON.stringify(p)} is none of ${PARTS.join(", ")}`);
const runs = (part: (typeof PARTS)[number]) => ONLY.includes(part);
const READY_MS = 10_000;
/** A replicated pair serves after a full resync of the file to the peer. */
const PAIR_READY_MS = 120_000;

type Job = { figure: string; unit: "MB/s" | "IOPS"; args: string[]; read: boolean };
const JOBS: Job[] = [
  { figure: "sequential write, 1 MiB, qd8", unit: "MB/s", args: ["--rw=write", "--bs=1M", "--iodepth=8"], read: false },
  { figure: "sequential read, 1 MiB, qd8", unit: "MB/s", args: ["--rw=read", "--bs=1M", "--iodepth=8"], read: true },
  { figure: "random write, 4 KiB, qd1", unit: "IOPS", args: ["--rw=randwrite", "--bs=4k", "--iodepth=1"], read: false },
  { figure: "random write, 4 KiB, qd32", unit: "IOPS", args: ["--rw=randwrite", "--bs=4k", "--iodepth=32"], read: false },
];

/** fio's terse v3 fields (1-based in its documentation): read bandwidth KiB/s 7, IOPS 8; write 48, 49. */
const TERSE = { readKiBps: 6, readIops: 7, writeKiBps: 47, writeIops: 48 } as const;

function fioFigure(terse: string, job: Job): number {
  const line = terse.split("\n").find((l) => l.split(";").length > TERSE.writeIops);
  if (!line) throw new Error(`fio printed no result: ${terse.slice(0, 200)}`);
  const f = line.split(";").map(Number);
  if (job.unit === "IOPS") return f[job.read ? TERSE.readIops : TERSE.writeIops]!;
  return (f[job.read ? TERSE.readKiBps : TERSE.writeKiBps]! * 1024) / 1e6;
}

function fio(uri: string, job: Job): number {
  const r = spawnSync(
    "fio",
    ["--name=nbd", "--ioengine=nbd", `--uri=${uri}`, ...job.args, "--size=1G", `--runtime=${SECONDS}`, "--time_based", "--ramp_time=1", "--output-format=terse", "--terse-version=3"],
    { encoding: "utf8", timeout: (SECONDS + 30) * 1000 },
  );
  if (r.status !== 0) throw new Error(`fio: ${r.stderr || r.error?.message}`);
  return fioFigure(r.stdout, job);
}

/** Waits until nbdinfo reaches the export at `uri`. */
async function untilServing(uri: string, p: { exitCode: number | null }): Promise<void> {
  const deadline = Date.now() + READY_MS;
  while (spawnSync("nbdinfo", ["--size", uri]).status !== 0) {
    if (p.exitCode !== null) throw new Error(`the server exited with ${p.exitCode}`);
    if (Date.now() > deadline) throw new Error(`nothing serves ${uri} after ${READY_MS} ms`);
    await Bun.sleep(50);
  }
}

/** Waits until the pair prints "ready: resynced N bytes in T ms"; its resync's MB/s. */
async function untilReady(out: ReadableStream<Uint8Array>, readyMs: number): Promise<number> {
  const reader = out.getReader();
  const timeout = Bun.sleep(readyMs).then(() => "timeout" as const);
  let seen = "";
  let m: RegExpExecArray | null;
  while (!(m = /ready: resynced (\d+) bytes in (\d+) ms\n/.exec(seen))) {
    const r = await Promise.race([reader.read(), timeout]);
    if (r === "timeout") throw new Error(`the replicated pair was not ready after ${readyMs} ms`);
    if (r.done) throw new Error(`the replicated pair exited: ${seen}`);
    seen += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  return Number(m[1]) / 1e3 / Number(m[2]);
}

/** nbdcopy from one export to another; MB/s. */
function nbdcopy(from: string, to: string): number {
  const began = performance.now();
  const r = spawnSync("nbdcopy", [from, to], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`nbdcopy: ${r.stderr || r.error?.message}`);
  return FILE_BYTES / 1e3 / (performance.now() - began);
}

/** `path` filled with random bytes (so no copy can skip zeroes), FILE_BYTES long. */
function randomFile(path: string): void {
  const fd = openSync(path, "w");
  const chunk = new Uint8Array(16 << 20);
  for (let at = 0; at < FILE_BYTES; at += chunk.length) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
}

export async function bench(bin: string): Promise<Table> {
  for (const tool of ["fio", "nbdkit"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing (scripts/setup.mjs installs it)`);
  }
  const tmp = tempDir("bench-replication");
  const dir = mkdtempSync(join(process.env.BENCH_REPLICATION_DIR ?? (existsSync("/dev/shm") ? "/dev/shm" : tmp.dir), "tandem-bench-replication-"));
  const file = join(dir, "volume.img");
  const pairFiles = { alpha: join(dir, "alpha.img"), bravo: join(dir, "bravo.img") };
  const copyFile = join(dir, "copy.img");
  const sock = { tandem: join(tmp.dir, "tandem.sock"), nbdkit: join(tmp.dir, "nbdkit.sock"), replicated: join(tmp.dir, "replicated.sock") };
  const port = { tandem: await freePort(), nbdkit: await freePort(), copy: await freePort(), alpha: await freePort(), bravo: await freePort() };
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  try {
    // Random data: the volume's, resynced to the peer and copied by nbdcopy as it is (a copy that skipped zeroes would not be comparable).
    randomFile(file);
    copyFileSync(file, pairFiles.alpha);
    for (const f of [pairFiles.bravo, copyFile]) if (spawnSync("fallocate", ["-l", String(FILE_BYTES), f]).status !== 0) throw new Error("fallocate failed");
    // MIMALLOC_PURGE_DELAY=-1: how `tandem run` runs the node (cmd/run.ts), whose threads serve NBD.
    const env = { ...process.env, BUN_BE_BUN: "1", MIMALLOC_PURGE_DELAY: "-1" };
    const tandem = Bun.spawn([bin, join(import.meta.dir, "nbd-serve.ts"), file, sock.tandem, String(port.tandem)], { env, stdout: "ignore", stderr: "inherit" });
    // nbdkit listens on a unix socket or on TCP: one of each.
    const nbdkit = (where: string[], served = file) => Bun.spawn(["nbdkit", "--foreground", ...where, "file", `file=${served}`], { stdout: "ignore", stderr: "inherit" });
    const kitUnix = nbdkit(["--unix", sock.nbdkit]);
    const kitTcp = nbdkit(["--ipaddr", "127.0.0.1", "--port", String(port.nbdkit)]);
    // nbdcopy's destination: the resync's anchor copies the volume from one nbdkit to another over TCP, as the resync goes from node to node.
    const kitCopy = runs("protocol-c") ? nbdkit(["--ipaddr", "127.0.0.1", "--port", String(port.copy)], copyFile) : null;
    procs.push(tandem, kitUnix, kitTcp, ...(kitCopy ? [kitCopy] : []));
    // The pair: one process a node, as two nodes run, with the same cluster key; alpha prints when it is in sync.
    const pairKey = randomBytes(32).toString("hex");
    const node = (self: "alpha" | "bravo") =>
      Bun.spawn([bin, join(import.meta.dir, "volume-serve.ts"), self, pairFiles[self], `${sock.replicated}.${self}`, String(port[self]), String(port[self === "alpha" ? "bravo" : "alpha"])], {
        env: { ...env, TANDEM_BENCH_KEY: pairKey },
        stdout: "pipe",
        stderr: "inherit",
      });
    const pair = runs("protocol-c") ? { bravo: node("bravo"), alpha: node("alpha") } : null;
    if (pair) procs.push(pair.bravo, pair.alpha);
    const uris = (side: "tandem" | "nbdkit") => ({ unix: `nbd+unix:///?socket=${sock[side]}`, tcp: `nbd://127.0.0.1:${port[side]}/` });
    await untilServing(uris("tandem").unix, tandem);
    await untilServing(uris("tandem").tcp, tandem);
    await untilServing(uris("nbdkit").unix, kitUnix);
    await untilServing(uris("nbdkit").tcp, kitTcp);
    // The pair is ready once bravo is resynced in full (a new volume): the resync's rate, then nbdcopy's of the same bytes.
    const rows: Row[] = [];
    if (pair && kitCopy) {
      const resync = await untilReady(pair.alpha.stdout, PAIR_READY_MS);
      const copyUri = `nbd://127.0.0.1:${port.copy}/`;
      await untilServing(copyUri, kitCopy);
      const copies = Array.from({ length: ROUNDS }, () => nbdcopy(uris("nbdkit").tcp, copyUri));
      rows.push({ figure: "full resync of the 1 GiB volume to the peer (anchor: nbdcopy of it between two nbdkit exports over TCP loopback)", unit: "MB/s", tandem: resync, anchor: median(copies), better: "higher" });
    }
    for (const transport of (["unix", "tcp"] as const).filter(runs)) {
      for (const job of JOBS) {
        const t: number[] = [];
        const a: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          a.push(fio(uris("nbdkit")[transport], job));
          t.push(fio(uris("tandem")[transport], job));
        }
        rows.push({ figure: `${transport === "unix" ? "unix socket" : "TCP loopback"}: ${job.figure}`, unit: job.unit, tandem: median(t), anchor: median(a), better: "higher" });
      }
    }
    for (const job of pair ? JOBS : []) {
      const c: number[] = [];
      const u: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        u.push(fio(uris("tandem").unix, job));
        c.push(fio(`nbd+unix:///?socket=${sock.replicated}.alpha`, job));
      }
      rows.push({ figure: `protocol C to a peer on loopback (anchor: Tandem unreplicated), unix socket: ${job.figure}`, unit: job.unit, tandem: median(c), anchor: median(u), better: "higher" });
    }
    return {
      title: "Replication: NBD data path, unreplicated and protocol C",
      anchor: "nbdkit file plugin (protocol C rows: Tandem unreplicated)",
      method: `fio --ioengine=nbd on a unix socket and on TCP 127.0.0.1, the same 1 GiB file (random data) on ${dir.startsWith("/dev/shm") ? "tmpfs" : "disk"} for both; protocol C: a pair of processes (one a node), both 1 GiB files on the same file system, the link on TCP 127.0.0.1, resynced once at the start (nbdcopy: median of ${ROUNDS} copies); ${SECONDS} s after 1 s of ramp per run, ${ROUNDS} runs a side alternating, median. Goal: 1.0× nbdkit or better on every figure, protocol C 0.7× of unreplicated or better on sequential writes.`,
      rows,
    };
  } finally {
    for (const p of procs) p.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
    tmp.cleanup();
  }
}
