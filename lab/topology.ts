/**
 * The lab's topology, planned as a pure function: a config and a lab name in,
 * every namespace, link, address and process of the lab out (or every reason
 * why not). Nothing here touches the system; lab/system.ts carries a plan out.
 *
 * One plan: a "switch" namespace holds the bridge of each network; every lab
 * host (each node of the config, a client and two real servers) has its own
 * namespace joined to the bridge by a veth pair; one more veth pair joins the
 * host namespace to the lan's bridge, so the host reaches every node's API and
 * nothing else of the lab appears in the host namespace.
 *
 * The networks: the lan, the /24 of the nodes' addresses, where the client and
 * the real servers live too; then one network per further /24 among the
 * addresses of the [heartbeat] links, in the order the links name them, with
 * only the nodes on it (network k is ethk in every node) and no host access.
 */
import { join } from "node:path";
import type { Config } from "../core/config/load.ts";
import type { LinkRaw } from "../modules/heartbeat/config.ts";
import type { ServerRaw, ServiceRaw } from "../modules/checks/config.ts";
import type { VirtualServiceRaw } from "../modules/director/config.ts";
import type { BackendRaw, FrontendRaw } from "../modules/proxy/config.ts";
import { labDir } from "./paths.ts";
import { formatIpv4, networkOf, overlaps, parseHostPort, parseIpv4 } from "../core/os/ip.ts";
import { IFNAME_MAX, LAB_NAME_MAX, labNameProblem, PREFIX } from "../core/lab-name.ts";
import { EDGE, EDGE_PART, ROUTER, ROUTER_SYSCTLS, routerPlan, routerProblems, type RoutingLabConfig } from "./router.ts";

/** The lab only ever uses the range reserved for benchmarking (RFC 2544). */
export const LAB_RANGE = { address: "198.18.0.0", prefixLength: 15 } as const;
export const LAB_PREFIX_LENGTH = 24;
/** Host parts of the lab's own addresses in its /24. */
export const HOST_PART = { host: 1, client: 100, rs1: 101, rs2: 102 } as const;
export const REALSERVER_PORT = 80;
export const REALSERVERS = ["rs1", "rs2"] as const;
export const CLIENT = "client";
export const LAN = "lan";
/** A network's bridge is `br-<network>`, so a network name has at most 15 - 3 characters. */
export const NETWORK_NAME_MAX = IFNAME_MAX - "br-".length;
export const SWITCH = "switch";
/** Names a node may not have: the lab's own hosts and the switch share its namespace naming. */
export const RESERVED_HOST_NAMES: readonly string[] = [CLIENT, ...REALSERVERS, SWITCH, ROUTER];

export type HostRole = "member" | "arbiter" | "client" | "realserver" | "router";

/** One L2 segment: a bridge in the switch namespace, an address plan, maybe a host veth. */
export interface LabNetwork {
  /** "lan", else the name of the first heartbeat link on it (or netK when that name cannot be one). */
  name: string;
  bridge: string;
  /** e.g. 198.18.7.0/24 */
  subnet: string;
  prefixLength: number;
  /** The interface each host has on it: eth0 on the lan, ethK on the K-th network. */
  iface: string;
  /** The heartbeat links that run over it. */
  links: string[];
  /** The veth in the host namespace (`tdl-<lab>`) and its peer on the bridge; the lan only. */
  hostLink?: { name: string; peer: string; address: string };
}

/** A host's leg on one network: `iface` inside its namespace, `port` on the bridge. */
export interface LabInterface {
  network: string;
  iface: string;
  port: string;
  address: string;
  prefixLength: number;
}

export interface LabHost {
  name: string;
  role: HostRole;
  namespace: string;
  interfaces: LabInterface[];
  /** The node's HTTP API, for nodes. */
  api?: string;
  /** What the lab runs in the namespace, for nodes and real servers. */
  process?: string[];
  /** Routes of its own: a real server's replies to the lab's clients through a NAT director's virtual address. */
  routes?: Array<{ to: string; via: string }>;
  /** sysctl settings in its namespace (KEY=VALUE): no ICMP redirects around a NAT director. */
  sysctls?: string[];
  /** Files the lab writes before it starts the processes (the router's BIRD config, each member's). */
  files?: Array<{ path: string; text: string }>;
  /**
   * Active/active NAT directors behind the router: connections they DNAT to the
   * real servers leave masqueraded (full NAT), so a real server answers the
   * director that sent it the connection (on a lan it cannot tell which).
   */
  masquerade?: string;
}

/** Something a client can use: a real server, a virtual service of the config's director, or an http frontend of its proxy; the last two with their real servers. */
export interface LabService {
  name: string;
  kind: "realserver" | "virtual" | "proxy";
  url: string;
  /** A virtual service's forwarding. */
  forwarding?: string;
  /** The real servers (ADDRESS:PORT) of a virtual service, or of a proxy frontend's default backend. */
  servers?: string[];
}

export interface LabPlan {
  lab: string;
  cluster: string;
  configFile: string;
  switchNamespace: string;
  networks: LabNetwork[];
  hosts: LabHost[];
  services: LabService[];
  /** The lab's control (control.ts), run in the host's namespace: how the nodes' dashboards reach the faults. */
  control: string[];
}

export type PlanResult = { ok: true; plan: LabPlan } | { ok: false; problems: string[] };

export type LabConfig = Pick<Config, "file" | "cluster" | "nodes" | "api" | "stateDir"> & {
  raw: {
    heartbeat?: { links: readonly Pick<LinkRaw, "name" | "kind" | "interface" | "addresses">[] };
    director?: { mode?: string; virtual_service: readonly Pick<VirtualServiceRaw, "name" | "address" | "port" | "protocol" | "fwmark" | "service" | "forwarding">[] };
    routing?: RoutingLabConfig;
    services?: ReadonlyArray<Pick<ServiceRaw, "name" | "port"> & { servers: ReadonlyArray<Pick<ServerRaw, "address" | "port">> }>;
    proxy?: { frontend: readonly Pick<FrontendRaw, "name" | "mode" | "bind" | "default_backend" | "certificate">[]; backend: readonly Pick<BackendRaw, "name" | "service">[] };
  };
};

/** What the lab sets around a NAT director: the nodes send no ICMP redirects (a real server would learn the way around the director), the real servers take none. */
export const NAT_SYSCTLS = {
  node: ["net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0"],
  realserver: ["net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.eth0.accept_redirects=0"],
} as const;

/**
 * The config's virtual services as the lab's client would use them (TCP on a
 * port: http://ADDRESS:PORT/), with their real servers; and the NAT virtual
 * address on the lan the real servers reply through (the first, when several).
 */
function virtualServicesOf(config: LabConfig, lanBase: number): { services: LabService[]; natVia?: string } {
  const services: LabService[] = [];
  let natVia: string | undefined;
  for (const vs of config.raw.director?.virtual_service ?? []) {
    if (vs.address === undefined || vs.port === undefined || vs.protocol !== "tcp") continue;
    services.push({ name: vs.name, kind: "virtual", url: urlOf(vs.address, vs.port), forwarding: vs.forwarding, servers: serversOf(config, vs.service, vs.port) });
    const v4 = parseIpv4(vs.address);
    if (vs.forwarding === "nat" && natVia === undefined && v4 !== undefined && networkOf(v4, LAB_PREFIX_LENGTH) === lanBase) natVia = vs.address;
  }
  return { services, ...(natVia !== undefined ? { natVia } : {}) };
}

/** http://ADDRESS[:PORT]/ (no port for 80), or https://ADDRESS[:PORT]/ (none for 443). */
function urlOf(address: string, port: number, scheme: "http" | "https" = "http"): string {
  const usual = scheme === "http" ? 80 : 443;
  return `${scheme}://${address.includes(":") ? `[${address}]` : address}${port === usual || port === 0 ? "" : `:${port}`}/`;
}

/** The servers of the config's service `name` as ADDRESS:PORT (a server's port, else the service's, else `port`). */
function serversOf(config: LabConfig, name: string, port: number): string[] {
  const service = config.raw.services?.find((s) => s.name === name);
  return (service?.servers ?? []).map((x) => `${x.address}:${x.port ?? service?.port ?? port}`);
}

/** Each bind of the proxy's http frontends (https with certificates), with the real servers of its default backend. */
function proxyServicesOf(config: LabConfig): LabService[] {
  const proxy = config.raw.proxy;
  return (proxy?.frontend ?? []).flatMap((f) => {
    if (f.mode === "tcp") return [];
    const service = proxy!.backend.find((b) => b.name === f.default_backend)?.service;
    return f.bind.flatMap((b) => {
      const at = parseHostPort(b);
      return at ? [{ name: f.name, kind: "proxy" as const, url: urlOf(at.address, at.port, f.certificate?.length ? "https" : "http"), servers: service === undefined ? [] : serversOf(config, service, at.port) }] : [];
    });
  });
}

/** The default lab name: the cluster's name, cut to fit interface names. */
export function defaultLabName(cluster: string): string {
  return cluster.slice(0, LAB_NAME_MAX).replace(/-+$/, "");
}

export function namespaceOf(lab: string, host: string): string {
  return `${PREFIX}-${lab}-${host}`;
}

/** Where a node of the lab keeps its state, when its config keeps any. */
export function nodeStateDir(lab: string, node: string): string {
  return join(labDir(lab), "state", node);
}

export function hostLinkName(lab: string): string {
  return `${PREFIX}-${lab}`;
}

/** A /24 beyond the lan that heartbeat links use: the links on it and each node's address there. */
interface Segment {
  base: number;
  links: string[];
  addresses: Map<string, string>;
}

/**
 * Sort the heartbeat links' addresses into the lan and further /24s, in the
 * order the links name them. A node has one address per network: on the lan
 * its own, elsewhere the same on every link that shares the /24.
 */
function segmentsOf(config: LabConfig, lanBase: number, problems: string[]): { lanLinks: string[]; segments: Segment[] } {
  const lanLinks: string[] = [];
  const segments = new Map<number, Segment>();
  const lan = `${formatIpv4(lanBase)}/${LAB_PREFIX_LENGTH}`;
  for (const link of config.raw.heartbeat?.links ?? []) {
    for (const node of config.nodes) {
      const address = link.addresses?.[node.name] ?? node.address;
      const value = parseIpv4(address);
      if (value === undefined) {
        problems.push(`node "${node.name}" has address "${address}" on link "${link.name}", which is not an IPv4 address`);
        continue;
      }
      const base = networkOf(value, LAB_PREFIX_LENGTH);
      if (base === lanBase) {
        if (address !== node.address)
          problems.push(`node "${node.name}" has address ${address} on link "${link.name}", in the lan ${lan}, where its address is ${node.address}; the lab gives a node one address per network`);
        if (!lanLinks.includes(link.name)) lanLinks.push(link.name);
        continue;
      }
      const segment = segments.get(base) ?? { base, links: [], addresses: new Map<string, string>() };
      segments.set(base, segment);
      if (!segment.links.includes(link.name)) segment.links.push(link.name);
      const had = segment.addresses.get(node.name);
      if (had !== undefined && had !== address)
        problems.push(`node "${node.name}" has two addresses in ${formatIpv4(base)}/${LAB_PREFIX_LENGTH}: ${had} and ${address} (link "${link.name}"); the lab gives a node one address per network`);
      else segment.addresses.set(node.name, address);
    }
  }
  for (const { base, addresses } of segments.values()) {
    const subnet = `${formatIpv4(base)}/${LAB_PREFIX_LENGTH}`;
    if (!overlaps({ address: formatIpv4(base), prefixLength: LAB_PREFIX_LENGTH }, LAB_RANGE))
      problems.push(`the heartbeat links' subnet ${subnet} is outside ${LAB_RANGE.address}/${LAB_RANGE.prefixLength}, the only range the lab uses`);
    const owner = new Map<string, string>();
    for (const [node, address] of addresses) {
      const part = parseIpv4(address)! - base;
      if (part === 0 || part === 255) problems.push(`node "${node}" has address ${address} on a heartbeat link, the ${part ? "broadcast" : "network"} address of ${subnet}`);
      const other = owner.get(address);
      if (other !== undefined) problems.push(`nodes "${other}" and "${node}" both have address ${address} on the heartbeat links`);
      owner.set(address, node);
    }
  }
  return { lanLinks, segments: [...segments.values()] };
}

/** A network's name: its first link's, unless that cannot name a bridge or is taken; then netK. */
function networkName(segment: Segment, k: number, taken: Set<string>): string {
  const first = segment.links[0]!;
  if (first.length <= NETWORK_NAME_MAX && !taken.has(first)) return first;
  let n = k;
  while (taken.has(`net${n}`)) n++;
  return `net${n}`;
}

/**
 * Plan a lab for a config. `self` is the command line that runs tandem.
 * A config that keeps state (state_dir) has each node keep it in a dir of its
 * own in the lab's (`--state-dir`): the hosts of a lab share one file system,
 * machines do not, and the lab's state goes with it at `lab down`.
 */
export function planLab(config: LabConfig, lab: string, self: readonly string[]): PlanResult {
  const problems: string[] = [];
  const nameProblem = labNameProblem(lab);
  if (nameProblem) problems.push(nameProblem);
  for (const node of config.nodes)
    if (RESERVED_HOST_NAMES.includes(node.name)) problems.push(`node "${node.name}" has a name the lab uses for its own host; rename it (reserved: ${RESERVED_HOST_NAMES.join(", ")})`);

  const networks = new Map<number, string[]>();
  for (const node of config.nodes) {
    const base = networkOf(parseIpv4(node.address)!, LAB_PREFIX_LENGTH);
    networks.set(base, [...(networks.get(base) ?? []), node.name]);
  }
  if (networks.size !== 1) {
    const list = [...networks].map(([base, names]) => `${formatIpv4(base)}/${LAB_PREFIX_LENGTH} (${names.join(", ")})`).join(", ");
    problems.push(`the lab puts every node on one /${LAB_PREFIX_LENGTH}, but the nodes' addresses are in ${networks.size}: ${list}`);
    return { ok: false, problems };
  }
  const base = [...networks.keys()][0]!;
  const subnet = `${formatIpv4(base)}/${LAB_PREFIX_LENGTH}`;
  if (!overlaps({ address: formatIpv4(base), prefixLength: LAB_PREFIX_LENGTH }, LAB_RANGE))
    problems.push(`the nodes' subnet ${subnet} is outside ${LAB_RANGE.address}/${LAB_RANGE.prefixLength}, the only range the lab uses (it is reserved for benchmarking, so a lab never shadows a real network)`);
  const reserved = new Map<number, string>([
    [0, "the network address"],
    [255, "the broadcast address"],
    [HOST_PART.host, "the host's side of the lab"],
    [HOST_PART.client, `the lab's ${CLIENT}`],
    [HOST_PART.rs1, "the lab's real server rs1"],
    [HOST_PART.rs2, "the lab's real server rs2"],
  ]);
  for (const node of config.nodes) {
    const use = reserved.get(parseIpv4(node.address)! - base);
    if (use) problems.push(`node "${node.name}" has address ${node.address}, which the lab keeps for ${use}; use another address in ${subnet}`);
  }
  const { lanLinks, segments } = segmentsOf(config, base, problems);
  const routing = config.raw.routing?.session.length ? config.raw.routing : undefined;
  if (routing) problems.push(...routerProblems(routing, base, reserved, new Map(config.nodes.map((n) => [n.name, n.address]))));
  if (problems.length) return { ok: false, problems };

  const at = (part: number) => formatIpv4(base + part);
  const lan: LabNetwork = {
    name: LAN,
    bridge: `br-${LAN}`,
    subnet,
    prefixLength: LAB_PREFIX_LENGTH,
    iface: "eth0",
    links: lanLinks,
    hostLink: { name: hostLinkName(lab), peer: `${LAN}-host`, address: at(HOST_PART.host) },
  };
  const taken = new Set([LAN]);
  const extra = segments.map((segment, i) => {
    const name = networkName(segment, i + 1, taken);
    taken.add(name);
    const network: LabNetwork = {
      name,
      bridge: `br-${name}`,
      subnet: `${formatIpv4(segment.base)}/${LAB_PREFIX_LENGTH}`,
      prefixLength: LAB_PREFIX_LENGTH,
      iface: `eth${i + 1}`,
      links: segment.links,
    };
    return { network, addresses: segment.addresses };
  });
  const all = [lan, ...extra.map((e) => e.network)];
  // With a router, the client is on an edge network of its own behind it: the first /24 after the lan that no network has.
  let edge: LabNetwork | undefined;
  if (routing) {
    let edgeBase = base + 256;
    while (all.some((n) => parseIpv4(n.subnet.split("/")[0]!) === edgeBase)) edgeBase += 256;
    edge = { name: EDGE, bridge: `br-${EDGE}`, subnet: `${formatIpv4(edgeBase)}/${LAB_PREFIX_LENGTH}`, prefixLength: LAB_PREFIX_LENGTH, iface: `eth${all.length}`, links: [] };
    if (!overlaps({ address: formatIpv4(edgeBase), prefixLength: LAB_PREFIX_LENGTH }, LAB_RANGE)) problems.push(`the router's edge network ${edge.subnet} would be outside ${LAB_RANGE.address}/${LAB_RANGE.prefixLength}`);
    all.push(edge);
  }
  for (const link of config.raw.heartbeat?.links ?? []) {
    if (link.kind === "ucast") continue;
    for (const net of all.filter((n) => n.links.includes(link.name)))
      if (link.interface !== net.iface)
        problems.push(`link "${link.name}" (${link.kind}) names interface ${link.interface}, but the lab puts ${net.subnet} on ${net.iface} of every node; set interface = "${net.iface}"`);
  }

  const hosts: LabHost[] = [];
  const leg = (network: LabNetwork, host: string, address: string): LabInterface => ({
    network: network.name,
    iface: network.iface,
    port: `${network.name}${hosts.length}-${host}`.slice(0, IFNAME_MAX),
    address,
    prefixLength: network.prefixLength,
  });
  const addHost = (name: string, role: HostRole, address: string, extra: Pick<LabHost, "api" | "process">, more: LabInterface[] = []) => {
    hosts.push({ name, role, namespace: namespaceOf(lab, name), interfaces: [leg(lan, name, address), ...more], ...extra });
  };
  for (const node of config.nodes) {
    const more = extra.flatMap(({ network, addresses }) => {
      const address = addresses.get(node.name);
      return address === undefined ? [] : [leg(network, node.name, address)];
    });
    addHost(
      node.name,
      node.roles.includes("arbiter") ? "arbiter" : "member",
      node.address,
      {
        api: `http://${node.address}:${config.api.port}/`,
        process: [...self, "run", "-c", config.file, "--node", node.name, ...(config.stateDir !== undefined ? ["--state-dir", nodeStateDir(lab, node.name)] : [])],
      },
      more,
    );
  }
  const virtuals = virtualServicesOf(config, base);
  const activeActive = config.raw.director?.mode === "active-active";
  const via = activeActive ? undefined : virtuals.natVia;
  let clientAddress = at(HOST_PART.client);
  if (routing && edge) {
    const edgeBase = parseIpv4(edge.subnet.split("/")[0]!)!;
    const members = hosts.filter((h) => h.role === "member").map((h) => ({ name: h.name, address: h.interfaces[0]!.address }));
    const router = routerPlan(routing, members, labDir(lab));
    clientAddress = formatIpv4(edgeBase + EDGE_PART.client);
    for (const h of hosts.filter((h) => h.role === "member")) h.routes = [{ to: edge.subnet, via: router.lanAddress }];
    if (activeActive && virtuals.natVia !== undefined) for (const h of hosts.filter((h) => h.role === "member")) h.masquerade = subnet;
    hosts.push({
      name: ROUTER,
      role: "router",
      namespace: namespaceOf(lab, ROUTER),
      interfaces: [leg(lan, ROUTER, router.lanAddress), leg(edge, ROUTER, formatIpv4(edgeBase + EDGE_PART.router))],
      process: router.process,
      sysctls: [...ROUTER_SYSCTLS],
      files: router.files,
    });
    hosts.push({ name: CLIENT, role: "client", namespace: namespaceOf(lab, CLIENT), interfaces: [leg(edge, CLIENT, clientAddress)], routes: [{ to: "default", via: formatIpv4(edgeBase + EDGE_PART.router) }] });
  } else addHost(CLIENT, "client", clientAddress, {});
  if (via !== undefined) for (const h of hosts.filter((h) => h.api)) h.sysctls = [...NAT_SYSCTLS.node];
  const services: LabService[] = [];
  for (const rs of REALSERVERS) {
    const address = at(HOST_PART[rs]);
    addHost(rs, "realserver", address, {
      process: [...self, "lab", "realserver", "--name", rs, "--listen", `${address}:${REALSERVER_PORT}`],
      // Replies to the lab's client go back through the NAT director that holds the address. Not those to this host: the
      // lab checks each real server from here before any node holds the address.
      ...(via !== undefined ? { routes: [{ to: `${clientAddress}/32`, via }], sysctls: [...NAT_SYSCTLS.realserver] } : {}),
    });
    services.push({ name: rs, kind: "realserver", url: `http://${address}/` });
  }
  services.push(...virtuals.services, ...proxyServicesOf(config));
  const inSwitch = [...all.flatMap((n) => [n.bridge, ...(n.hostLink ? [n.hostLink.peer] : [])]), ...hosts.flatMap((h) => h.interfaces.map((i) => i.port))];
  const clashes = [...new Set(inSwitch.filter((n, i) => inSwitch.indexOf(n) !== i))];
  if (clashes.length) problems.push(`interface names in the switch namespace would repeat (${clashes.join(", ")}); rename the heartbeat links or nodes they come from`);
  if (problems.length) return { ok: false, problems };
  return {
    ok: true,
    plan: { lab, cluster: config.cluster, configFile: config.file, switchNamespace: namespaceOf(lab, SWITCH), networks: all, hosts, services, control: [...self, "lab", "control", "--name", lab] },
  };
}

/**
 * The `ip` command lines that build a plan's namespaces and links, in order.
 * Every link gets `addrgenmode none` before it goes up: the lab is IPv4 only,
 * so no link-local IPv6 address appears, not even on the host's veth.
 */
export function buildCommands(plan: LabPlan): string[][] {
  const sw = plan.switchNamespace;
  const bringUp = (ns: string[], link: string, ...attrs: string[]) => [
    [...ns, "link", "set", link, "addrgenmode", "none"],
    [...ns, "link", "set", link, ...attrs, "up"],
  ];
  const cmds: string[][] = [["netns", "add", sw], ["-n", sw, "link", "set", "lo", "up"]];
  for (const net of plan.networks) {
    cmds.push(["-n", sw, "link", "add", net.bridge, "type", "bridge"], ...bringUp(["-n", sw], net.bridge));
    const h = net.hostLink;
    if (h)
      cmds.push(
        ["link", "add", h.name, "type", "veth", "peer", "name", h.peer, "netns", sw],
        ...bringUp(["-n", sw], h.peer, "master", net.bridge),
        ["addr", "add", `${h.address}/${net.prefixLength}`, "dev", h.name],
        ...bringUp([], h.name),
      );
  }
  for (const host of plan.hosts) {
    const ns = host.namespace;
    cmds.push(["netns", "add", ns], ["-n", ns, "link", "set", "lo", "up"]);
    for (const i of host.interfaces) {
      const bridge = plan.networks.find((n) => n.name === i.network)!.bridge;
      cmds.push(
        ["-n", sw, "link", "add", i.port, "type", "veth", "peer", "name", i.iface, "netns", ns],
        ...bringUp(["-n", sw], i.port, "master", bridge),
        ["-n", ns, "addr", "add", `${i.address}/${i.prefixLength}`, "dev", i.iface],
        ...bringUp(["-n", ns], i.iface),
      );
    }
    for (const setting of host.sysctls ?? []) cmds.push(["netns", "exec", ns, "sysctl", "-qw", setting]);
    for (const r of host.routes ?? []) cmds.push(["-n", ns, "route", "add", r.to, "via", r.via]);
    if (host.masquerade !== undefined) cmds.push(...masqueradeCommands(ns, host.masquerade));
  }
  return cmds;
}

/** The lab's table in a director's namespace: what it DNATed to `subnet` (the real servers) leaves with the director's address. */
export function masqueradeCommands(ns: string, subnet: string): string[][] {
  const nft = ["netns", "exec", ns, "nft"];
  return [
    [...nft, "add", "table", "ip", "tandem_lab_fullnat"],
    [...nft, "add", "chain", "ip", "tandem_lab_fullnat", "post", "{ type nat hook postrouting priority srcnat ; }"],
    [...nft, "add", "rule", "ip", "tandem_lab_fullnat", "post", "ip", "daddr", subnet, "ct", "status", "dnat", "masquerade"],
  ];
}

/** Every namespace of a plan, hosts first, the switch last. */
export function namespacesOf(plan: LabPlan): string[] {
  return [...plan.hosts.map((h) => h.namespace), plan.switchNamespace];
}
