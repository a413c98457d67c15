/**
 * The proxy's control side as the runtime runs it, with the checks module
 * beside it and double-worker.ts as its data path; configs of one node
 * (alpha) or of a pair, and a cluster bus joining two nodes in this process.
 */
import { Services, type ClusterBus } from "../../../../core/cluster.ts";
import { parseConfig, type Config } from "../../../../core/config/load.ts";
import type { ModuleContext, ModuleInstance } from "../../../../core/module.ts";
import { MODULES } from "../../../../modules/index.ts";
import { checksModule } from "../../../../modules/checks/index.ts";
import { ProxyService } from "../../../../modules/proxy/service.ts";
import { testContext } from "../../context.ts";
import { DOUBLE_ENTRY } from "./double.ts";

/** A config of `nodes` (the first two members), with `sections` after them. */
export function proxyConfig(sections: string, nodes = ["alpha"]): Config {
  const r = parseConfig(proxyText(sections, nodes), "/tmp/proxytest.toml", MODULES);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

/** The text of proxyConfig's config. */
export function proxyText(sections: string, nodes = ["alpha"]): string {
  return `cluster = "proxytest"
key_file = "cluster.key"
${nodes.map((n, i) => `[[nodes]]\nname = "${n}"\naddress = "198.18.1.${11 + i}"\nroles = ["member"]\n`).join("\n")}
${sections}`;
}

/** Two services (web: two servers, one a backup with weight 3; api: one, checked by tcp), a frontend and two backends. */
export function sections(o: { workers?: number; apiPort: number; bind?: string; extra?: string; webCheck?: string }): string {
  return `[[services]]
name = "web"
port = 8080
servers = [{ address = "127.0.0.1" }, { address = "::1", port = 8081, weight = 3, backup = true, maxconn = 10 }]
check = ${o.webCheck ?? `{ kind = "none" }`}

[[services]]
name = "api"
servers = [{ address = "127.0.0.1", port = ${o.apiPort} }]
check = { kind = "tcp", interval = "100ms", timeout = "200ms", rise = 1, fall = 1 }

[proxy]
workers = ${o.workers ?? 2}

[[proxy.frontend]]
name = "www"
bind = ["${o.bind ?? "127.0.0.1:18080"}"]
default_backend = "web"
rule = [{ backend = "api", path_prefix = ["/api/"] }]

[[proxy.backend]]
name = "web"
service = "web"
stick_on_source = true

[[proxy.backend]]
name = "api"
service = "api"
${o.extra ?? ""}`;
}

/** A node: its context, its checks module and its proxy (on the double worker). */
export class Node {
  readonly services: Services;
  readonly ctx: ModuleContext;
  readonly checks: ModuleInstance;
  proxy: ProxyService;

  constructor(
    readonly name: string,
    config: Config,
    opts: { services?: Services; ctx?: ModuleContext } = {},
  ) {
    this.services = opts.services ?? new Services();
    this.ctx = opts.ctx ?? testContext(config, name, this.services);
    this.checks = checksModule.create(this.ctx);
    this.proxy = new ProxyService(this.ctx, DOUBLE_ENTRY);
  }

  async start(config: Config): Promise<void> {
    await this.checks.start(config);
    await this.proxy.start(config);
  }

  async stop(): Promise<void> {
    await this.proxy.stop();
    await this.checks.stop();
  }
}

/** Two buses joined: what one sends on a channel, the other's listeners of it hear (in a later turn), from the sender's name. */
export function busPair(names: [string, string], maxMessageBytes: number): [ClusterBus, ClusterBus] {
  const listeners = names.map(() => new Map<number, Set<(from: string, data: Uint8Array) => void>>());
  const sent = [0, 0];
  const bus = (i: 0 | 1): ClusterBus & { sent: number } => ({
    get sent() {
      return sent[i]!;
    },
    snapshot: () => ({ self: names[i], peers: [{ name: names[1 - i]!, status: "up", incarnation: 1 }], quorate: true, majority: true }),
    watch: () => () => {},
    maxMessageBytes,
    send: (channel, data) => {
      if (data.length > maxMessageBytes) throw new Error(`${data.length} bytes is more than ${maxMessageBytes}`);
      sent[i]!++;
      const copy = data.slice();
      setTimeout(() => {
        for (const l of listeners[1 - i]!.get(channel) ?? []) l(names[i], copy);
      }, 0);
    },
    listen: (channel, onMessage) => {
      const set = listeners[i]!.get(channel) ?? new Set();
      listeners[i]!.set(channel, set);
      set.add(onMessage);
      return () => void set.delete(onMessage);
    },
    holdResources: () => {},
  });
  return [bus(0), bus(1)];
}
