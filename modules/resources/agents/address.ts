/**
 * The `address` agent: a virtual IP address, held in-process through
 * rtnetlink (core/os/netlink.ts) and announced with gratuitous ARP or
 * unsolicited NA (core/os/announce.ts). No process is started on the
 * failover path.
 *
 * The address is added with a finite lifetime (3 s by default) that this
 * agent renews every third of it while it holds the address. A Tandem that
 * is killed or frozen stops renewing, and the kernel removes the address by
 * itself shortly after; a renewal that finds it gone (or run out) does not
 * add it back, so the next monitor reports not-running.
 */
import { describeValue } from "../../../core/config/problems.ts";
import { formatDuration, parseDuration } from "../../../core/duration.ts";
import { announce } from "../../../core/os/announce.ts";
import { type Cidr, formatCidr, parseCidr } from "../../../core/os/ip.ts";
import { ERRNO, OsError } from "../../../core/os/libc.ts";
import { FOREVER, IFNAMSIZ, type AddressSpec, type InterfaceAddress, addAddress, deleteAddress, findAddress, interfaceIndex, labelProblem, type RenewOutcome, renewAddress } from "../../../core/os/netlink.ts";
import { type Cancel, type Clock, realClock } from "../../../core/time.ts";
import { unimplemented, type Agent, type AgentAction, type AgentResult, type AgentStatus, type RunOptions } from "../../../core/agent.ts";
import { checkParameters, type OcfMetaData } from "./metadata.ts";

export const ADDRESS_AGENT = "address";
export const DEFAULT_ANNOUNCE_COUNT = 5;
export const MAX_ANNOUNCE_COUNT = 100;
export const DEFAULT_ANNOUNCE_INTERVAL = "200ms";
export const MIN_ANNOUNCE_INTERVAL_MS = 10;
export const MAX_ANNOUNCE_INTERVAL_MS = 10_000;
export const DEFAULT_LIFETIME = "3s";
export const LIFETIME_FOREVER = "forever";
/** The longest finite lifetime: its renewal interval must stay a valid timer delay. */
export const MAX_LIFETIME_S = 86_400;
/** Renewals per lifetime: the address outlives two missed renewals, not three. */
export const RENEWALS_PER_LIFETIME = 3;
const MS_PER_S = 1000;
/** The timeouts and monitor interval the meta-data advises: every action is a few netlink requests of 1 s at most. */
const ADVISED_TIMEOUT_MS = 5000;
const ADVISED_MONITOR_INTERVAL_MS = 10_000;
/** 224.0.0.0/4 and ff00::/8, by their first byte. */
const IPV4_MULTICAST_MASK = 0xf0;
const IPV4_MULTICAST_FIRST = 0xe0;
const IPV6_MULTICAST_FIRST = 0xff;
const ALL_ONES_BYTE = 0xff;

export interface AddressParams {
  cidr: Cidr;
  interface: string;
  /** IPv4 only: the address's label (`eth0:vip`). */
  label?: string;
  announceCount: number;
  announceIntervalMs: number;
  /** Whole seconds, or FOREVER. */
  lifetimeS: number;
}

/** The agent's description: its meta-data, and what its parameters are checked against. */
export const ADDRESS_META: OcfMetaData = {
  name: ADDRESS_AGENT,
  version: "1.0",
  shortdesc: "A virtual IP address, renewed while held and announced on the link",
  parameters: [
    { name: "address", required: true, unique: true, type: "string", default: null, shortdesc: "The address with its prefix length: 198.18.4.10/24 or fd00::10/64" },
    { name: "interface", required: true, unique: false, type: "string", default: null, shortdesc: "The interface that gets the address" },
    { name: "label", required: false, unique: false, type: "string", default: null, shortdesc: `IPv4 only: the address's label, at most ${IFNAMSIZ - 1} bytes (eth0:vip)` },
    { name: "announce_count", required: false, unique: false, type: "integer", default: String(DEFAULT_ANNOUNCE_COUNT), shortdesc: `Gratuitous ARPs or unsolicited NAs sent at start, 0 to ${MAX_ANNOUNCE_COUNT}` },
    { name: "announce_interval", required: false, unique: false, type: "string", default: DEFAULT_ANNOUNCE_INTERVAL, shortdesc: "Time between two announcements, with its unit" },
    {
      name: "lifetime",
      required: false,
      unique: false,
      type: "string",
      default: DEFAULT_LIFETIME,
      shortdesc: `The address's lifetime in whole seconds (1s to ${formatDuration(MAX_LIFETIME_S * MS_PER_S)}), renewed every third of it while held, or "${LIFETIME_FOREVER}"`,
    },
  ],
  actions: [
    { name: "start", timeoutMs: ADVISED_TIMEOUT_MS, intervalMs: null },
    { name: "stop", timeoutMs: ADVISED_TIMEOUT_MS, intervalMs: null },
    { name: "monitor", timeoutMs: ADVISED_TIMEOUT_MS, intervalMs: ADVISED_MONITOR_INTERVAL_MS },
    { name: "meta-data", timeoutMs: ADVISED_TIMEOUT_MS, intervalMs: null },
    { name: "validate-all", timeoutMs: ADVISED_TIMEOUT_MS, intervalMs: null },
  ],
};

const LONGDESC =
  "Adds an IPv4 or IPv6 address to an interface through rtnetlink, with a finite lifetime that the holder renews; " +
  "a holder that is killed or frozen stops renewing and the kernel removes the address by itself. " +
  "At start the address is announced with gratuitous ARP (IPv4) or unsolicited neighbour advertisements (IPv6).";

const xmlEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The OCF resource-agent document (API 1.1) for ADDRESS_META. */
export function addressMetaDataXml(): string {
  const m = ADDRESS_META;
  const params = m.parameters.map(
    (p) =>
      `    <parameter name="${p.name}" unique="${p.unique ? 1 : 0}" required="${p.required ? 1 : 0}">\n` +
      `      <shortdesc lang="en">${xmlEscape(p.shortdesc)}</shortdesc>\n` +
      `      <content type="${p.type}"${p.default === null ? "" : ` default="${xmlEscape(p.default)}"`}/>\n` +
      `    </parameter>\n`,
  );
  const actions = m.actions.map((a) => `    <action name="${a.name}" timeout="${formatDuration(a.timeoutMs ?? 0)}"${a.intervalMs === null ? "" : ` interval="${formatDuration(a.intervalMs)}"`}/>\n`);
  return (
    `<?xml version="1.0"?>\n<resource-agent name="${m.name}" version="${m.version}">\n  <version>1.1</version>\n` +
    `  <longdesc lang="en">${xmlEscape(LONGDESC)}</longdesc>\n  <shortdesc lang="en">${xmlEscape(m.shortdesc)}</shortdesc>\n` +
    `  <parameters>\n${params.join("")}  </parameters>\n  <actions>\n${actions.join("")}  </actions>\n</resource-agent>\n`
  );
}

/** An interface name as the kernel accepts one (dev_valid_name). */
export function interfaceProblem(name: string): string | undefined {
  if (name === "." || name === ".." || !/^[^/:\s]+$/.test(name) || new TextEncoder().encode(name).length >= IFNAMSIZ) {
    return `"${name}" is not an interface name: 1 to ${IFNAMSIZ - 1} bytes without "/", ":" or spaces`;
  }
  return undefined;
}

function parseAnnounceCount(text: string): number {
  if (!/^[0-9]{1,3}$/.test(text) || Number(text) > MAX_ANNOUNCE_COUNT) throw new RangeError(`announce_count "${text}": expected a whole number from 0 to ${MAX_ANNOUNCE_COUNT}`);
  return Number(text);
}

function parseAnnounceInterval(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < MIN_ANNOUNCE_INTERVAL_MS || ms > MAX_ANNOUNCE_INTERVAL_MS) {
    throw new RangeError(`announce_interval "${text}": expected a duration with its unit from ${MIN_ANNOUNCE_INTERVAL_MS}ms to ${formatDuration(MAX_ANNOUNCE_INTERVAL_MS)}, e.g. "200ms"`);
  }
  return ms;
}

function parseLifetime(text: string): number {
  if (text === LIFETIME_FOREVER) return FOREVER;
  const ms = parseDuration(text);
  if (ms === undefined || ms % MS_PER_S !== 0 || ms < MS_PER_S || ms > MAX_LIFETIME_S * MS_PER_S) {
    throw new RangeError(`lifetime "${text}": expected whole seconds with a unit from 1s to ${formatDuration(MAX_LIFETIME_S * MS_PER_S)} (e.g. "3s"), or "${LIFETIME_FOREVER}"`);
  }
  return ms / MS_PER_S;
}

/** The agent's params from the config's strings; throws RangeError naming every problem. */
export function parseAddressParams(resourceName: string, params: Record<string, unknown>): AddressParams {
  const problems: string[] = [];
  const strings: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    if (typeof value === "string") strings[name] = value;
    else problems.push(`parameter "${name}" must be a string, not ${describeValue(value)}`);
  }
  for (const p of checkParameters(ADDRESS_META, strings)) problems.push(p.hint ? `${p.message} (${p.hint})` : p.message);
  const read = <T>(name: string, parse: (text: string) => T, fallback: string): T | undefined => {
    try {
      return parse(strings[name] ?? fallback);
    } catch (err) {
      problems.push((err as Error).message);
      return undefined;
    }
  };
  const cidr = strings.address === undefined ? undefined : read("address", (t) => checkCidr(parseCidr(t), t), "");
  const ifProblem = strings.interface === undefined ? undefined : interfaceProblem(strings.interface);
  if (ifProblem) problems.push(`interface ${ifProblem}`);
  const label = strings.label;
  const badLabel = label === undefined ? undefined : labelProblem(label, cidr?.family ?? 4);
  if (badLabel) problems.push(badLabel);
  const announceCount = read("announce_count", parseAnnounceCount, String(DEFAULT_ANNOUNCE_COUNT));
  const announceIntervalMs = read("announce_interval", parseAnnounceInterval, DEFAULT_ANNOUNCE_INTERVAL);
  const lifetimeS = read("lifetime", parseLifetime, DEFAULT_LIFETIME);
  if (problems.length || !cidr || announceCount === undefined || announceIntervalMs === undefined || lifetimeS === undefined) {
    throw new RangeError(`resource ${resourceName} (${ADDRESS_AGENT}): ${problems.join("; ")}`);
  }
  return { cidr, interface: strings.interface!, ...(label !== undefined ? { label } : {}), announceCount, announceIntervalMs, lifetimeS };
}

/** An address a host can hold: not unspecified, not multicast, not IPv4's limited broadcast. */
function checkCidr(cidr: Cidr, text: string): Cidr {
  const [first] = cidr.bytes;
  const unspecified = cidr.bytes.every((b) => b === 0);
  const multicast = cidr.family === 4 ? (first! & IPV4_MULTICAST_MASK) === IPV4_MULTICAST_FIRST : first === IPV6_MULTICAST_FIRST;
  const broadcast = cidr.family === 4 && cidr.bytes.every((b) => b === ALL_ONES_BYTE);
  if (unspecified || multicast || broadcast) throw new RangeError(`address "${text}" is ${unspecified ? "unspecified" : multicast ? "multicast" : "a broadcast address"}: not one a host can hold`);
  return cidr;
}

const lifetimeText = (s: number) => (s === FOREVER ? LIFETIME_FOREVER : formatDuration(s * MS_PER_S));
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

function failureStatus(err: unknown): AgentStatus {
  if (!(err instanceof OsError)) return "error";
  return err.errno === ERRNO.EPERM ? "insufficient-privileges" : "failed";
}

const isNoDevice = (err: unknown) => err instanceof OsError && err.errno === ERRNO.ENODEV;

export class AddressAgent implements Agent {
  readonly name = ADDRESS_AGENT;
  private readonly spec: AddressSpec;
  private readonly what: string;
  private renewTimer: Cancel | null = null;
  private announceTimer: Cancel | null = null;
  /** Why the last renewal failed (the address is still renewed at the next turn); null after one that worked. */
  private renewProblem: string | null = null;
  private announceProblem: string | null = null;
  /** How a renewal found the address gone: it is not re-added, and renewals stop. */
  private lost: Exclude<RenewOutcome, "renewed"> | null = null;

  constructor(
    readonly resource: string,
    readonly params: AddressParams,
    private readonly clock: Clock = realClock,
  ) {
    this.spec = {
      interface: params.interface,
      cidr: params.cidr,
      validLft: params.lifetimeS,
      preferredLft: params.lifetimeS,
      ...(params.label !== undefined ? { label: params.label } : {}),
    };
    this.what = `${formatCidr(params.cidr)} on ${params.interface}`;
  }

  /** Whether renewals are running: from a start (with a finite lifetime) to a stop or close, or until a renewal finds the address gone. */
  get renewing(): boolean {
    return this.renewTimer !== null;
  }

  async run(action: AgentAction, options: RunOptions): Promise<AgentResult> {
    const started = performance.now();
    const result = (status: AgentStatus, message: string, output = ""): AgentResult => ({
      action,
      status,
      exitCode: null,
      durationMs: Math.round(performance.now() - started),
      output,
      outputBytes: new TextEncoder().encode(output).length,
      message,
    });
    if (options.signal?.aborted) return result("cancelled", "cancelled before it started");
    switch (action) {
      case "start":
        return this.start(result);
      case "stop":
        return this.stop(result);
      case "monitor":
      case "probe":
        return this.monitor(action, result);
      case "meta-data":
        return result("ok", "", addressMetaDataXml());
      case "validate-all":
        return this.validate(result);
      case "promote":
      case "demote":
        return unimplemented(action, "address");
    }
  }

  /** Stops renewals and announcements; the address stays until it expires or a stop removes it. */
  close(): void {
    this.renewTimer?.();
    this.renewTimer = null;
    this.announceTimer?.();
    this.announceTimer = null;
  }

  private start(result: (status: AgentStatus, message: string) => AgentResult): AgentResult {
    this.close();
    let existed: boolean;
    try {
      existed = findAddress(this.spec.interface, this.spec.cidr, `start ${this.what}`) !== undefined;
      addAddress(this.spec);
    } catch (err) {
      return result(failureStatus(err), errorText(err));
    }
    this.lost = null;
    this.renewProblem = null;
    this.announceProblem = null;
    if (this.spec.validLft !== FOREVER) this.scheduleRenewal();
    const notes = [`${existed ? "refreshed" : "added"} ${this.what}, lifetime ${lifetimeText(this.spec.validLft)}`];
    if (this.params.announceCount > 0) {
      const first = this.announceOnce();
      notes.push(first ?? `announced (1 of ${this.params.announceCount})`);
      this.scheduleAnnouncements(this.params.announceCount - 1);
    }
    return result("ok", notes.join("; "));
  }

  private stop(result: (status: AgentStatus, message: string) => AgentResult): AgentResult {
    this.close();
    this.lost = null;
    try {
      return result("ok", deleteAddress(this.spec.interface, this.spec.cidr) === "deleted" ? `deleted ${this.what}` : `${this.what} was not there`);
    } catch (err) {
      if (isNoDevice(err)) return result("ok", `${this.spec.interface} does not exist, so neither does ${this.what}`);
      return result(failureStatus(err), errorText(err));
    }
  }

  private monitor(action: "monitor" | "probe", result: (status: AgentStatus, message: string) => AgentResult): AgentResult {
    let found: InterfaceAddress | undefined;
    try {
      found = findAddress(this.spec.interface, this.spec.cidr, `${action} ${this.what}`);
    } catch (err) {
      if (isNoDevice(err) && action === "probe") return result("not-running", `${this.spec.interface} does not exist`);
      return result(failureStatus(err), errorText(err));
    }
    if (!found || found.validLft === 0) {
      const how = this.lost ? `; a renewal found it ${this.lost} and did not add it back` : "";
      return result("not-running", `${this.what} is ${found ? "expired" : "not there"}${how}`);
    }
    const notes: string[] = [];
    // A probe that finds the address (left by an earlier run of this daemon) takes its renewals over: the policy
    // now counts it as running here and either keeps it (renewed) or stops it.
    if (found.validLft !== FOREVER && !this.renewing && action === "probe") notes.push(this.adopt(found.validLft));
    else if (found.validLft !== FOREVER && !this.renewing) notes.push(`not renewed by this process: it expires in ${found.validLft}s`);
    if (this.renewProblem) notes.push(`renewal failing: ${this.renewProblem}`);
    if (this.announceProblem) notes.push(`announcement failed: ${this.announceProblem}`);
    return result("ok", notes.join("; "));
  }

  private validate(result: (status: AgentStatus, message: string) => AgentResult): AgentResult {
    try {
      interfaceIndex(this.spec.interface, `validate ${this.what}`);
      return result("ok", "");
    } catch (err) {
      return result(isNoDevice(err) ? "not-configured" : failureStatus(err), errorText(err));
    }
  }

  private adopt(left: number): string {
    try {
      if (renewAddress(this.spec) !== "renewed") return `found with ${left}s left, gone before it could be renewed`;
    } catch (err) {
      return `found with ${left}s left; renewing it failed: ${errorText(err)}`;
    }
    this.lost = null;
    this.scheduleRenewal();
    return `found with ${left}s left; renewed by this process from now on`;
  }

  private scheduleRenewal(): void {
    const everyMs = Math.floor((this.spec.validLft * MS_PER_S) / RENEWALS_PER_LIFETIME);
    this.renewTimer = this.clock.after(everyMs, () => this.renew());
  }

  /** One renewal; re-armed unless the address is gone, which stops the announcements too. */
  private renew(): void {
    this.renewTimer = null;
    try {
      const outcome = renewAddress(this.spec);
      if (outcome !== "renewed") {
        this.lost = outcome;
        this.close();
        return;
      }
      this.renewProblem = null;
    } catch (err) {
      this.renewProblem = errorText(err);
    }
    this.scheduleRenewal();
  }

  /** Sends one announcement; what went wrong, or undefined. */
  private announceOnce(): string | undefined {
    try {
      announce(this.spec.interface, this.spec.cidr);
      return undefined;
    } catch (err) {
      this.announceProblem = errorText(err);
      return `announcement failed: ${this.announceProblem}`;
    }
  }

  private scheduleAnnouncements(left: number): void {
    if (left <= 0) return;
    this.announceTimer = this.clock.after(this.params.announceIntervalMs, () => {
      this.announceTimer = null;
      this.announceOnce();
      this.scheduleAnnouncements(left - 1);
    });
  }
}

/** The agent for a resource of the config; throws RangeError naming what is wrong with its params. */
export function createAddressAgent(resourceName: string, params: Record<string, unknown>): AddressAgent {
  return new AddressAgent(resourceName, parseAddressParams(resourceName, params));
}
