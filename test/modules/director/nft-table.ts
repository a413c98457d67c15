/**
 * A table as nft holds it, in memory, for the render tests: it carries out
 * the batches nftables-render.ts writes (add, delete, flush of tables, sets,
 * maps, chains, rules, elements), refuses what the kernel refuses (deleting
 * a chain with rules or one still jumped to, a set still referenced, adding
 * what exists) and lists itself in the shape of `nft -j list table`.
 */
import type { Command } from "../../../modules/director/dataplane/nftables-render.ts";

type Body = Record<string, unknown> & { name?: string; chain?: string; elem?: unknown[] };

interface SetObj {
  kind: "set" | "map";
  body: Body;
  elem: unknown[];
}

export class NftTable {
  exists = false;
  private sets = new Map<string, SetObj>();
  private chains = new Map<string, Body>();
  private rules = new Map<string, Body[]>();
  private handle = 0;

  /** Carry out a batch; throws on the first command the kernel would refuse (then the table is unusable, as a failed batch is never half-applied by nft). */
  run(commands: Command[]): void {
    for (const c of commands) {
      const [[op, obj]] = Object.entries(c) as [[string, Record<string, Body>]];
      const [[kind, body]] = Object.entries(obj) as [[string, Body]];
      this.one(op, kind, body);
    }
  }

  private references(): string {
    return JSON.stringify([...this.rules.values(), ...[...this.sets.values()].map((s) => s.elem)]);
  }

  private one(op: string, kind: string, body: Body): void {
    const name = body.name!;
    const what = `${op} ${kind} ${name ?? body.chain}`;
    const fail = (why: string) => {
      throw new Error(`${what}: ${why}`);
    };
    if (kind === "table") {
      if (op === "add") this.exists = true;
      else {
        if (!this.exists) fail("no such table");
        Object.assign(this, { exists: false, sets: new Map(), chains: new Map(), rules: new Map() });
      }
      return;
    }
    if (!this.exists) fail("no such table");
    if (kind === "set" || kind === "map") {
      const s = this.sets.get(name);
      if (op === "add") {
        if (s) fail("exists");
        const { family: _f, table: _t, elem, ...rest } = body;
        this.sets.set(name, { kind, body: rest, elem: [...(elem ?? [])] });
      } else if (!s || s.kind !== kind) fail("no such set");
      else if (op === "flush") s.elem = [];
      else if (this.references().includes(`"@${name}"`)) fail("still referenced");
      else this.sets.delete(name);
    } else if (kind === "element") {
      const s = this.sets.get(name) ?? fail("no such set");
      const key = (e: unknown) => JSON.stringify(s.kind === "map" ? (e as unknown[])[0] : e);
      for (const e of body.elem!) {
        const k = s.kind === "map" && op === "delete" ? JSON.stringify(e) : key(e);
        const i = s.elem.findIndex((x) => key(x) === k);
        if (op === "add") {
          if (i >= 0) fail(`element ${k} exists`);
          s.elem.push(e);
        } else {
          if (i < 0) fail(`no element ${k}`);
          s.elem.splice(i, 1);
        }
      }
    } else if (kind === "chain") {
      const exists = this.chains.has(name);
      if (op === "add") {
        if (exists) fail("exists");
        const { family: _f, table: _t, ...rest } = body;
        this.chains.set(name, rest);
        this.rules.set(name, []);
      } else if (!exists) fail("no such chain");
      else if (op === "flush") this.rules.set(name, []);
      else if (this.rules.get(name)!.length) fail("chain has rules");
      else if (this.references().includes(`"target":"${name}"`)) fail("still jumped to");
      else {
        this.chains.delete(name);
        this.rules.delete(name);
      }
    } else if (kind === "rule") {
      const rules = this.rules.get(body.chain!) ?? fail("no such chain");
      const text = JSON.stringify(body);
      for (const [, ref] of text.matchAll(/"@([^"]+)"/g)) if (!this.sets.has(ref!)) fail(`no set ${ref}`);
      for (const [, target] of text.matchAll(/"target":"([^"]+)"/g)) if (!this.chains.has(target!)) fail(`no chain ${target}`);
      const { family: _f, table: _t, ...rest } = body;
      rules.push(rest);
    } else fail("unknown object");
  }

  /** The table as `nft -j list table` shows it. */
  listing(): unknown {
    if (!this.exists) return { nftables: [] };
    const at = { family: "ip", table: "tandem_lb" };
    const h = () => ++this.handle;
    return {
      nftables: [
        { metainfo: { version: "test" } },
        { table: { family: "ip", name: "tandem_lb", handle: h() } },
        ...[...this.sets.values()].map((s) => ({ [s.kind]: { ...at, ...s.body, handle: h(), ...(s.elem.length ? { elem: s.elem } : {}) } })),
        ...[...this.chains.values()].map((c) => ({ chain: { ...at, ...c, handle: h() } })),
        ...[...this.rules.values()].flat().map((r) => ({ rule: { ...at, ...r, handle: h() } })),
      ],
    };
  }
}
