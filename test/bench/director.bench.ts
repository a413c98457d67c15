/**
 * The director's reconcile on the nftables dataplane, for 1,000 virtual
 * services with 10 real servers each: the first apply, a change of one
 * server's weight, and a reconcile with nothing to change. This kernel has no
 * IPVS, so ipvsadm cannot be the anchor; the anchor is the hand-written way
 * of driving nftables: the same ruleset as text (what `nft list table`
 * prints) loaded with `nft -f`, the whole table replaced in one transaction
 * at every change, as a script that regenerates its file does.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, sh, type Table } from "./lib.ts";
import { NftablesDataplane } from "../../modules/director/dataplane/nftables.ts";
import { REALS, SERVICES, state } from "./director-state.ts";

const RUNS = 5;

async function timed(f: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

const nft = (ns: string, ...args: string[]) => sh(["ip", "netns", "exec", ns, "nft", ...args]);
const dropTable = (ns: string) => Bun.spawnSync(["ip", "netns", "exec", ns, "nft", "delete", "table", "ip", "tandem_lb"], { stderr: "ignore" });

export async function bench(): Promise<Table> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-bench-director-"));
  const ours = `tdbench-nft-${process.pid}-t`;
  const theirs = `tdbench-nft-${process.pid}-a`;
  const a = state(false);
  const b = state(true);
  try {
    for (const ns of [ours, theirs]) sh(["ip", "netns", "add", ns]);
    const dataplane = new NftablesDataplane({ netns: ours });
    const first: number[] = [];
    const change: number[] = [];
    const same: number[] = [];
    const read: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      dropTable(ours);
      first.push(await timed(() => new NftablesDataplane({ netns: ours }).reconcile(a)));
      change.push(await timed(() => dataplane.reconcile(b)));
      await dataplane.reconcile(a);
      same.push(await timed(() => dataplane.reconcile(a)));
      read.push(await timed(() => dataplane.read()));
    }
    const textA = join(dir, "a.nft");
    const textB = join(dir, "b.nft");
    writeFileSync(textA, nft(ours, "list", "table", "ip", "tandem_lb"));
    await dataplane.reconcile(b);
    writeFileSync(textB, `delete table ip tandem_lb\n${nft(ours, "list", "table", "ip", "tandem_lb")}`);
    const anchorFirst: number[] = [];
    const anchorChange: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      dropTable(theirs);
      anchorFirst.push(await timed(() => nft(theirs, "-f", textA)));
      anchorChange.push(await timed(() => nft(theirs, "-f", textB)));
    }
    return {
      title: `Director reconcile, nftables dataplane: ${SERVICES.toLocaleString("en")} virtual services × ${REALS} real servers`,
      anchor: "nft -f, whole table",
      method: `Medians of ${RUNS} runs, each dataplane in a namespace of its own, wrr with weights 1 to 3. Tandem: reconcile() end to end (nft -j list, parse, diff, one nft -j -f batch of only what changed). This kernel has no IPVS, so ipvsadm cannot be the anchor; the anchor is the hand-written way: the same ruleset as text loaded with nft -f, every change a reload of the whole table in one transaction. "Nothing changed" and "read" have no counterpart there (a script without a reader cannot know), so n/a.`,
      rows: [
        { figure: "first apply", unit: "ms", tandem: median(first), anchor: median(anchorFirst), better: "lower" },
        { figure: "one server's weight changed", unit: "ms", tandem: median(change), anchor: median(anchorChange), better: "lower" },
        { figure: "reconcile, nothing changed", unit: "ms", tandem: median(same), anchor: NaN, better: "lower" },
        { figure: "read the table (nft -j list, parse)", unit: "ms", tandem: median(read), anchor: NaN, better: "lower" },
      ],
    };
  } finally {
    for (const ns of [ours, theirs]) Bun.spawnSync(["ip", "netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
