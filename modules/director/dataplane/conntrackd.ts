/**
 * conntrackd managed by the director on the nftables dataplane: Tandem writes
 * its config (conntrackd-conf.ts), runs it as a child in the foreground, and
 * drives it through its client commands on every role change; the guard table
 * keeps packets of a connection not yet committed from being scheduled anew.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { conntrackdConfig, conntrackdPaths, guardScript, GUARD_TABLE, roleCommands, type SyncSettings } from "./conntrackd-conf.ts";
import { DataplaneError, type ConnectionSync, type SyncRole } from "./model.ts";

/** Bound on one conntrackd client command (a commit of a large external cache included). */
export const CLIENT_TIMEOUT_MS = 10_000;
/** How long conntrackd may take to answer after it is started, or to go after it is told to. */
const READY_MS = 5_000;
const POLL_MS = 10;

export interface ConntrackdLog {
  info(data: Record<string, unknown>, message: string): void;
  warn(data: Record<string, unknown>, message: string): void;
}

async function run(argv: string[], input?: string): Promise<{ ok: boolean; out: string }> {
  const proc = Bun.spawn(argv, { stdin: input === undefined ? "ignore" : new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe", timeout: CLIENT_TIMEOUT_MS, killSignal: "SIGKILL" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { ok: (await proc.exited) === 0, out: `${out}${err}`.trim() };
}

export class Conntrackd implements ConnectionSync {
  readonly name = "conntrackd";
  private proc: Subprocess | null = null;
  private role: SyncRole | null = null;
  private last: { role: SyncRole; ms: number; error: string | null } | null = null;
  private readonly paths: ReturnType<typeof conntrackdPaths>;

  constructor(
    private readonly settings: SyncSettings,
    private readonly log: ConntrackdLog,
  ) {
    this.paths = conntrackdPaths(settings.runDir);
  }

  private client(args: string[]): Promise<{ ok: boolean; out: string }> {
    return run(["conntrackd", "-C", this.paths.config, ...args]);
  }

  private async until(what: string, done: () => Promise<boolean> | boolean): Promise<void> {
    const deadline = performance.now() + READY_MS;
    while (!(await done())) {
      if (performance.now() > deadline) throw new DataplaneError(`conntrackd: ${what} within ${READY_MS} ms`);
      await Bun.sleep(POLL_MS);
    }
  }

  /** Write the config, end a conntrackd left by an earlier run (a lock without a daemon is removed), start ours, put the guard in, take the role. */
  async start(role: SyncRole): Promise<void> {
    if (!Bun.which("conntrackd")) throw new DataplaneError("conntrackd is not installed (Debian package conntrackd): [director] sync on the nftables dataplane runs it");
    mkdirSync(this.settings.runDir, { recursive: true, mode: 0o700 });
    writeFileSync(this.paths.config, conntrackdConfig(this.settings));
    if (existsSync(this.paths.lock)) {
      if ((await this.client(["-s"])).ok) {
        this.log.warn({ lock: this.paths.lock }, "a conntrackd of an earlier run still answers: it is ended");
        await this.client(["-k"]);
        await this.until("the earlier conntrackd did not end", () => !existsSync(this.paths.lock));
      } else rmSync(this.paths.lock, { force: true });
    }
    const proc = Bun.spawn(["conntrackd", "-C", this.paths.config], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.proc = proc;
    void this.forward(proc.stdout);
    void this.forward(proc.stderr);
    await this.until("did not answer on its socket", async () => {
      if (proc.exitCode !== null) throw new DataplaneError(`conntrackd exited with ${proc.exitCode} at its start (see the log's conntrackd lines)`);
      return (await this.client(["-s"])).ok;
    });
    const guard = await run(["nft", "-f", "-"], guardScript());
    if (!guard.ok) throw new DataplaneError(`nft: the guard table ip ${GUARD_TABLE}: ${guard.out}`);
    await this.become(role);
  }

  async become(role: SyncRole): Promise<void> {
    const t0 = performance.now();
    this.role = role;
    for (const args of roleCommands(role)) {
      const r = await this.client(args);
      if (!r.ok) {
        this.last = { role, ms: performance.now() - t0, error: `conntrackd ${args.join(" ")}: ${r.out || "failed"}` };
        throw new DataplaneError(this.last.error!);
      }
    }
    this.last = { role, ms: Math.round((performance.now() - t0) * 10) / 10, error: null };
    this.log.info({ role, ms: this.last.ms }, role === "primary" ? "conntrackd: the peer's connections committed; this node is the primary" : "conntrackd: backup, resync asked");
  }

  /** conntrackd told to end (SIGTERM; SIGKILL if it lingers), the guard removed. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      const ended = await Promise.race([proc.exited.then(() => true), Bun.sleep(READY_MS).then(() => false)]);
      if (!ended) proc.kill("SIGKILL");
    }
    await run(["nft", "delete", "table", "ip", GUARD_TABLE]);
  }

  status(): Record<string, unknown> {
    return { name: this.name, running: this.proc !== null && this.proc.exitCode === null, pid: this.proc?.pid ?? null, role: this.role, last: this.last, config: this.paths.config };
  }

  private async forward(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const chunk of stream) {
      pending += new TextDecoder().decode(chunk);
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) if (line.trim()) this.log.info({ conntrackd: line.trim() }, "conntrackd");
    }
  }
}
