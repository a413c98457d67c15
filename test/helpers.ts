/** What the tests that drive the program share: run the CLI, start a node, temp dirs, free ports. */
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createServer } from "node:net";

const ROOT = resolve(import.meta.dir, "..");

/** The program under test: the compiled binary when TANDEM_BIN is set (npm test sets it), else bun + the source. */
export function tandemArgv(): string[] {
  const bin = process.env.TANDEM_BIN;
  return bin ? [bin] : [join(ROOT, "node_modules", ".bin", "bun"), join(ROOT, "cmd", "tandem.ts")];
}

export interface Done {
  code: number;
  stdout: string;
  stderr: string;
}

/** `env` adds to this process's environment. */
export async function tandem(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Done> {
  const p = Bun.spawn([...tandemArgv(), ...args], { cwd: opts.cwd ?? ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, ...opts.env } });
  const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tandem-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/** A UDP port free on 127.0.0.1 now (the heartbeat's sockets bind it on other loopback addresses too). */
export async function freeUdpPort(): Promise<number> {
  const s = await Bun.udpSocket({ hostname: "127.0.0.1" });
  const port = s.port;
  s.close();
  return port;
}

/** Poll `fn` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/** A `tandem run` process whose stdout (JSON log lines) is collected as it comes. */
export class NodeProcess {
  readonly proc: ReturnType<typeof Bun.spawn>;
  log = "";
  private readonly drained: Promise<void>;

  /** `env` adds to this process's environment (HA_RSCTMP, so resource agents keep their state in the test's directory). */
  constructor(args: string[], cwd: string, env: Record<string, string> = {}) {
    this.proc = Bun.spawn([...tandemArgv(), "run", ...args], { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, ...env } });
    const collect = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of s) this.log += dec.decode(chunk, { stream: true });
    };
    this.drained = Promise.all([collect(this.proc.stdout as ReadableStream<Uint8Array>), collect(this.proc.stderr as ReadableStream<Uint8Array>)]).then(() => {});
  }

  lines(): Array<Record<string, unknown>> {
    return this.log
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async waitLog(what: string, pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return waitFor(what, () => this.lines().find(pred), timeoutMs);
  }

  async exited(timeoutMs = 15_000): Promise<number> {
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    const code = await this.proc.exited;
    clearTimeout(timer);
    await this.drained;
    return code;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.proc.exitCode === null) this.proc.kill(signal);
  }
}

/**
 * Whether `file` of Debian package `pkg` is here; as root with apt-get, the
 * package is installed when missing (scripts/setup.mjs does it for npm test).
 * Says why not, for the tests that skip.
 */
export function haveDebianPackage(pkg: string, file: string, what: string): boolean {
  if (existsSync(file)) return true;
  if (process.getuid?.() !== 0 || !Bun.which("apt-get")) {
    console.log(`skip: ${what}: ${pkg} is not installed and this is not root with apt-get`);
    return false;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (argv: string[]) => Bun.spawnSync(argv, { env, stdout: "ignore", stderr: "pipe", timeout: 300_000 });
  let r = run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg]);
  if (r.exitCode !== 0) {
    run(["apt-get", "update", "-qq"]);
    r = run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", pkg]);
  }
  if (r.exitCode !== 0 || !existsSync(file)) console.log(`skip: ${what}: apt-get install ${pkg} failed: ${r.stderr.toString().trim().split("\n").pop()}`);
  return existsSync(file);
}

/** The processes of a process group still alive (zombies, waiting for a parent to reap them, count as gone). */
export function liveInGroup(pgid: number): number[] {
  const live: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pgid && fields[0] !== "Z") live.push(Number(entry));
  }
  return live;
}
