/**
 * BIRD as the routing module reaches it: the include written (atomically,
 * mode 0600: it may hold passwords), then `birdc configure`; BIRD started
 * with the operator's config when nothing answers on its socket; the
 * sessions read back with `birdc show protocols`. `parseProtocols` is the
 * pure half.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** A birdc call, and BIRD's start, take at most this long. */
export const BIRDC_TIMEOUT_MS = 5_000;

/** One protocol of `show protocols`: BIRD's state (up, down, start...) and, for BGP, the session's state (Established...) and what BIRD says of it. */
export interface ProtocolState {
  name: string;
  proto: string;
  state: string;
  since: string;
  /** BGP: Idle, Connect, Active, OpenSent, OpenConfirm, Established; else "". */
  session: string;
  info: string;
}

const BGP_STATES = /\b(Idle|Connect|Active|OpenSent|OpenConfirm|Established|Close)\b\s*(.*)$/;
const STATES = new Set(["up", "down", "start", "stop", "flush"]);

/** `birdc show protocols` → its rows (the banner and header skipped; a line not shaped as a row is ignored). */
export function parseProtocols(text: string): ProtocolState[] {
  const out: ProtocolState[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !STATES.has(f[3]!)) continue;
    const rest = f.slice(4).join(" ");
    const bgp = f[1] === "BGP" ? BGP_STATES.exec(rest) : null;
    const since = bgp ? rest.slice(0, bgp.index).trim() : rest;
    out.push({ name: f[0]!, proto: f[1]!, state: f[3]!, since, session: bgp?.[1] ?? "", info: bgp?.[2]?.trim() ?? "" });
  }
  return out;
}

/** Whether `birdc configure` took the config ("Reconfigured", or queued behind one under way). */
export const configured = (out: string): boolean => /Reconfigured|Reconfiguration in progress|Reconfiguration already in progress/.test(out);

/** What the routing shell needs of BIRD; tests and the simulator give their own. */
export interface Bird {
  /** Write the include and make BIRD take it (starting BIRD when it does not answer); throws with BIRD's words. */
  apply(include: string): Promise<void>;
  protocols(): Promise<ProtocolState[]>;
}

export interface BirdPaths {
  birdConfig: string;
  include: string;
  socket: string;
  birdc: string;
  bird: string;
}

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: BIRDC_TIMEOUT_MS, killSignal: "SIGKILL" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code: await proc.exited, out: `${out}${err}`.trim() };
}

/** The real BIRD: its socket, its include, its commands. */
export class BirdControl implements Bird {
  constructor(private readonly paths: BirdPaths) {}

  /** The operator's config as BIRD would read it. */
  operatorConfig(): string {
    return readFileSync(this.paths.birdConfig, "utf8");
  }

  async apply(include: string): Promise<void> {
    mkdirSync(dirname(this.paths.include), { recursive: true });
    const tmp = `${this.paths.include}.tandem-new`;
    writeFileSync(tmp, include, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.paths.include);
    const r = await run([this.paths.birdc, "-s", this.paths.socket, "configure"]);
    if (configured(r.out)) return;
    if (/Unable to connect|No such file|Connection refused/i.test(r.out)) return this.startBird();
    throw new Error(`birdc configure: ${r.out || `exit ${r.code}`}`);
  }

  /** BIRD runs as a daemon of its own (as under systemd), its pid in SOCKET.pid: it outlives a restart of Tandem, which finds it on the socket. */
  private async startBird(): Promise<void> {
    mkdirSync(dirname(this.paths.socket), { recursive: true });
    const r = await run([this.paths.bird, "-c", this.paths.birdConfig, "-s", this.paths.socket, "-P", `${this.paths.socket}.pid`]);
    if (r.code !== 0) throw new Error(`bird -c ${this.paths.birdConfig}: ${r.out || `exit ${r.code}`}`);
  }

  async protocols(): Promise<ProtocolState[]> {
    const r = await run([this.paths.birdc, "-s", this.paths.socket, "show", "protocols"]);
    if (r.code !== 0 || /Unable to connect/i.test(r.out)) throw new Error(`birdc show protocols: ${r.out || `exit ${r.code}`}`);
    return parseProtocols(r.out);
  }
}
