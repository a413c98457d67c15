/**
 * The nftables dataplane: NAT load balancing in one table that Tandem owns
 * (`ip tandem_lb`), for kernels without IPVS. The shell around
 * nftables-render.ts: it lists the table, reads it back, and applies the
 * difference to what is desired in one `nft -j -f -` batch, which the kernel
 * commits atomically. Every `nft` call is bounded in time and output; a
 * failure is a DataplaneError with nft's own words.
 */
import { applyDiff, diff, touched } from "./diff.ts";
import { DataplaneError, type Change, type Dataplane, type Reconciled, type VirtualService } from "./model.ts";
import { effective, FAMILY, parseListing, renderChanges, renderReplace, TABLE, type Command } from "./nftables-render.ts";

/** Bound on one `nft` call: a first apply of 1,000 services with 10 servers each takes about half a second. */
export const NFT_TIMEOUT_MS = 10_000;
/** Bound on what one `nft` call may print: a listing of 1,000 services with 10 servers each is about 1.5 MB. */
export const NFT_OUTPUT_MAX = 64 * 1024 * 1024;
/** How much of nft's error output a DataplaneError quotes. */
const NFT_ERROR_MAX = 2_000;

export interface NftablesOptions {
  /** Run nft in this network namespace (`ip netns exec`); default: this process's. */
  netns?: string;
  /** Bound on one nft call. */
  timeoutMs?: number;
  /** Where a scheduler mapped to the nearest one is said. */
  warn?: (message: string) => void;
}

async function readBounded(stream: ReadableStream<Uint8Array>, max: number, onOverflow: () => void): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > max) {
      onOverflow();
      throw new DataplaneError(`nft printed more than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export class NftablesDataplane implements Dataplane {
  readonly name = "nftables";
  private readonly argv: string[];
  private readonly timeoutMs: number;
  private readonly warn: (message: string) => void;
  /** What the table holds, as this instance last read or applied it; undefined until then. */
  private held: Map<string, VirtualService> | undefined;
  /** Whether the table is there, and whether it is exactly what `held` renders to. */
  private table: { exists: boolean; consistent: boolean } = { exists: false, consistent: false };
  /** One operation at a time: each waits for the one before. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: NftablesOptions = {}) {
    this.argv = [...(options.netns ? ["ip", "netns", "exec", options.netns] : []), "nft"];
    this.timeoutMs = options.timeoutMs ?? NFT_TIMEOUT_MS;
    this.warn = options.warn ?? (() => {});
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Run nft with `args`, `input` on its stdin; its stdout, or a DataplaneError. */
  private async nft(args: string[], input?: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
    const proc = Bun.spawn([...this.argv, ...args], {
      stdin: input === undefined ? "ignore" : new TextEncoder().encode(input),
      stdout: "pipe",
      stderr: "pipe",
      timeout: this.timeoutMs,
      killSignal: "SIGKILL",
    });
    const kill = () => proc.kill("SIGKILL");
    const [stdout, stderr] = await Promise.all([readBounded(proc.stdout, NFT_OUTPUT_MAX, kill), readBounded(proc.stderr, NFT_OUTPUT_MAX, kill)]);
    const code = await proc.exited;
    if (proc.signalCode === "SIGKILL") throw new DataplaneError(`nft ${args.join(" ")} did not finish within ${this.timeoutMs} ms`);
    return { ok: code === 0, stdout, stderr: stderr.trim() };
  }

  private async list(): Promise<unknown> {
    const r = await this.nft(["-j", "list", "table", FAMILY, TABLE]);
    if (r.ok) return JSON.parse(r.stdout);
    if (/No such file or directory/.test(r.stderr)) return { nftables: [] };
    throw new DataplaneError(`nft list table ${FAMILY} ${TABLE}: ${r.stderr.slice(0, NFT_ERROR_MAX) || "failed"}`);
  }

  private async run(commands: Command[]): Promise<void> {
    const r = await this.nft(["-j", "-f", "-"], JSON.stringify({ nftables: commands }));
    if (!r.ok) throw new DataplaneError(`nft rejected the change to table ${FAMILY} ${TABLE} (nothing was changed): ${r.stderr.slice(0, NFT_ERROR_MAX) || "failed"}`);
  }

  private async load(): Promise<VirtualService[]> {
    const listed = parseListing(await this.list());
    this.held = new Map(listed.services.map((s) => [s.key, s]));
    this.table = { exists: listed.exists, consistent: listed.consistent };
    return listed.services;
  }

  /** Make the table hold `next` (as `effective` returns them), touching only the services in `keys` while it is consistent. */
  private async commit(next: VirtualService[], keys: Set<string>): Promise<void> {
    const after = new Map(next.map((s) => [s.key, s]));
    if (!this.table.consistent) await this.run(renderReplace(next, this.table.exists));
    else if (keys.size) await this.run(renderChanges(this.held!, after, keys));
    this.held = after;
    this.table = { exists: true, consistent: true };
  }

  /** The services the table holds, as its records say (schedulers as held: mapped ones read back as what they became). */
  read(): Promise<VirtualService[]> {
    return this.serial(() => this.load());
  }

  apply(changes: Change[]): Promise<void> {
    return this.serial(async () => {
      if (!this.held) await this.load();
      const { services, warnings } = effective(applyDiff([...this.held!.values()], changes));
      warnings.forEach(this.warn);
      await this.commit(services, touched(changes));
    });
  }

  /**
   * Make the kernel hold `desired`: read the table, diff it against what is
   * desired, apply only that. Nothing changed: no nft batch at all. A table
   * that is not exactly what its own records render to (another layout, a
   * hand edit, a half-written one) is replaced whole, in one batch; either
   * way conntrack keeps every established connection's NAT.
   */
  reconcile(desired: VirtualService[]): Promise<Reconciled> {
    return this.serial(async () => {
      const t0 = performance.now();
      const { services, warnings } = effective(desired);
      warnings.forEach(this.warn);
      const changes = diff(await this.load(), services);
      await this.commit(services, touched(changes));
      return { diff: changes, ms: performance.now() - t0 };
    });
  }
}
