/**
 * The lab's router, planned (pure): when the config has [routing] sessions,
 * `tandem lab` puts a router between the client and the directors, as an
 * edge router of a site that runs active/active directors. The router is
 * BIRD (bird2) in a namespace of its own, on the lan at the sessions' peer
 * address and on an "edge" network with the client; it peers with every
 * member (its AS the session's `asn`, theirs `local_asn`, BFD and password
 * as the session has them), imports the /32s they announce and installs
 * equal routes as one Linux multipath route (`merge paths`), hashed on
 * layer 4 (`net.ipv4.fib_multipath_hash_policy=1`), so each new connection
 * of the client picks a director.
 *
 * The members' BIRD configs are written by the lab too (a router id, the
 * device protocol and the include Tandem owns), at the paths the config
 * gives per node: the lab's hosts share one file system, so [routing]'s
 * bird_config, include and socket must hold `{node}`.
 */
import { join } from "node:path";
import { formatIpv4, networkOf, parseIpv4 } from "../core/os/ip.ts";
import { parseDuration } from "../core/duration.ts";
import type { RoutingRaw } from "../modules/routing/config.ts";

export const ROUTER = "router";
/** The router's and the client's host parts on the edge network. */
export const EDGE_PART = { router: 1, client: 100 } as const;
export const EDGE = "edge";
export const ROUTER_SYSCTLS = ["net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1", "net.ipv4.conf.all.rp_filter=0"] as const;

export type RoutingLabConfig = Pick<RoutingRaw, "bird_config" | "include" | "socket"> & {
  session: ReadonlyArray<Pick<RoutingRaw["session"][number], "name" | "peer" | "asn" | "local_asn" | "bfd" | "password" | "password_file" | "nodes">>;
};

export interface RouterPlan {
  /** The router's address on the lan: the first session's peer. */
  lanAddress: string;
  /** The files the lab writes before it starts the processes: the router's config, each member's BIRD config. */
  files: Array<{ path: string; text: string }>;
  /** What the router runs (BIRD in the foreground). */
  process: string[];
  socket: string;
}

/** The problems of a [routing] section in a lab; none means routerPlan can plan it. */
export function routerProblems(r: RoutingLabConfig, lanBase: number, reserved: ReadonlyMap<number, string>, nodeAddresses: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const key of ["bird_config", "include", "socket"] as const)
    if (!r[key].includes("{node}")) out.push(`[routing] ${key} "${r[key]}" must hold {node}: the lab's hosts share one file system, so each node needs BIRD files of its own`);
  const peers = new Set(r.session.map((s) => s.peer));
  if (peers.size !== 1) out.push(`the lab has one router: every [[routing.session]] must name the same peer (found ${[...peers].join(", ")})`);
  const first = r.session[0]!;
  const v4 = parseIpv4(first.peer);
  if (v4 === undefined || networkOf(v4, 24) !== lanBase) out.push(`the lab's router is on the lan ${formatIpv4(lanBase)}/24: the session's peer ${first.peer} must be an address in it`);
  else {
    const use = reserved.get(v4 - lanBase);
    if (use) out.push(`the session's peer ${first.peer} is what the lab keeps for ${use}; use another address of the lan for the router`);
    for (const [node, address] of nodeAddresses) if (address === first.peer) out.push(`the session's peer ${first.peer} is node "${node}"'s address`);
  }
  for (const s of r.session) if (s.password_file !== undefined) out.push(`session "${s.name}": the lab's router is given the password itself: use password, not password_file, in a lab`);
  return out;
}

const at = (path: string, node: string) => path.replaceAll("{node}", node);

/** The router's BIRD config: a BGP session with each member that opens one, ECMP into the kernel. */
export function routerConfig(r: RoutingLabConfig, members: ReadonlyArray<{ name: string; address: string }>, routerId: string): string {
  const withBfd = r.session.find((s) => s.bfd);
  const lines = [
    "# Written by tandem lab: the lab's edge router.",
    `router id ${routerId};`,
    "protocol device {}",
    "protocol kernel { ipv4 { import none; export all; }; merge paths on; }",
    ...(withBfd ? ["protocol bfd {}"] : []),
  ];
  for (const s of r.session)
    for (const m of members.filter((m) => !s.nodes || s.nodes.includes(m.name))) {
      const bfd = s.bfd ? parseDuration(s.bfd.interval)! : 0;
      lines.push(
        `protocol bgp ${s.name.replace(/-/g, "_")}_${m.name.replace(/-/g, "_")} {`,
        `  local as ${s.asn};`,
        `  neighbor ${m.address} as ${s.local_asn};`,
        // A director powered off and back: its session is up again within seconds, not after BIRD's default 60 s.
        "  connect retry time 1;",
        "  error wait time 1, 5;",
        ...(s.password !== undefined ? [`  password "${s.password}";`] : []),
        ...(s.bfd ? [`  bfd { min rx interval ${bfd} ms; min tx interval ${bfd} ms; multiplier ${s.bfd.multiplier}; };`] : []),
        "  ipv4 { import all; export none; };",
        "}",
      );
    }
  return `${lines.join("\n")}\n`;
}

/** A member's BIRD main config: its router id, the device protocol, and the include Tandem owns. */
export function memberConfig(r: RoutingLabConfig, node: { name: string; address: string }): string {
  return `# Written by tandem lab: ${node.name}'s BIRD; Tandem owns the include.\nrouter id ${node.address};\nprotocol device {}\ninclude "${at(r.include, node.name)}";\n`;
}

export function routerPlan(r: RoutingLabConfig, members: ReadonlyArray<{ name: string; address: string }>, labDir: string): RouterPlan {
  const lanAddress = r.session[0]!.peer;
  const dir = join(labDir, ROUTER);
  const config = join(dir, "bird.conf");
  const socket = join(dir, "bird.ctl");
  return {
    lanAddress,
    files: [{ path: config, text: routerConfig(r, members, lanAddress) }, ...members.map((m) => ({ path: at(r.bird_config, m.name), text: memberConfig(r, m) }))],
    process: ["bird", "-f", "-c", config, "-s", socket],
    socket,
  };
}
