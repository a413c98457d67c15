/**
 * Runs core/os calls in the network namespace it was started in (by `ip
 * netns exec`): each stdin line is one call as JSON, each stdout line its
 * outcome, `{ value, at }` or `{ error: { name, code, errno, message }, at }`
 * (`at`: performance.now() when it finished). `wait-gone` polls until each of
 * `cidrs` is off the interface and answers when each went (null: still there).
 */
import { announce } from "../../../core/os/announce.ts";
import { parseCidr } from "../../../core/os/ip.ts";
import { OsError } from "../../../core/os/libc.ts";
import { NETLINK_ROUTE, NLM_F_DUMP, addAddress, deleteAddress, findAddress, formatMac, interfaceIndex, interfaceMac, listAddresses, netlinkExchange, renewAddress } from "../../../core/os/netlink.ts";
import { decodeNlas } from "../../../core/os/nlattr.ts";

interface Call {
  op: "index" | "mac" | "add" | "renew" | "delete" | "list" | "find" | "announce" | "wait-gone" | "dump-kept";
  ifname: string;
  cidr?: string;
  valid?: number;
  preferred?: number;
  label?: string;
  family?: 4 | 6;
  /** wait-gone: the addresses to watch, and for how long. */
  cidrs?: string[];
  withinMs?: number;
}

const POLL_MS = 10;
/** rtnetlink: RTM_GETADDR, and the sizes of struct nlmsghdr and struct ifaddrmsg; IFA_ADDRESS. */
const RTM_GETADDR = 22;
const NLMSG_HDR_BYTES = 16;
const IFADDRMSG_BYTES = 8;
const IFA_ADDRESS = 1;
const AF_INET = 2;

/**
 * An IPv4 address dump whose messages are all kept until it ends (as genlDump keeps its
 * messages), then read: the addresses, in the order the kernel sent them.
 */
function dumpKept(): string[] {
  const kept: Uint8Array[] = [];
  const request = new Uint8Array(IFADDRMSG_BYTES);
  request[0] = AF_INET;
  netlinkExchange(NETLINK_ROUTE, "dump the IPv4 addresses", RTM_GETADDR, NLM_F_DUMP, request, (msg) => kept.push(msg));
  return kept.map((msg) => {
    const address = decodeNlas(msg.subarray(NLMSG_HDR_BYTES + IFADDRMSG_BYTES)).attrs.find((a) => a.type === IFA_ADDRESS)?.value;
    return address ? [...address].join(".") : "";
  });
}

async function perform(c: Call): Promise<unknown> {
  const cidr = c.cidr === undefined ? undefined : parseCidr(c.cidr);
  const spec = () => ({ interface: c.ifname, cidr: cidr!, validLft: c.valid!, preferredLft: c.preferred ?? c.valid!, ...(c.label ? { label: c.label } : {}) });
  switch (c.op) {
    case "index":
      return interfaceIndex(c.ifname);
    case "mac": {
      const mac = interfaceMac(c.ifname);
      return mac && formatMac(mac);
    }
    case "add":
      return addAddress(spec()) ?? null;
    case "renew":
      return renewAddress(spec());
    case "delete":
      return deleteAddress(c.ifname, cidr!);
    case "list":
      return listAddresses(c.ifname, c.family);
    case "find":
      return findAddress(c.ifname, cidr!) ?? null;
    case "announce":
      return announce(c.ifname, cidr!) ?? null;
    case "dump-kept":
      return dumpKept();
    case "wait-gone": {
      const deadline = performance.now() + c.withinMs!;
      const goneAt: Record<string, number | null> = Object.fromEntries(c.cidrs!.map((t) => [t, null]));
      const look = () => {
        for (const t of c.cidrs!) if (goneAt[t] === null && !findAddress(c.ifname, parseCidr(t))) goneAt[t] = performance.now();
      };
      while (performance.now() < deadline && Object.values(goneAt).includes(null)) {
        look();
        await Bun.sleep(POLL_MS);
      }
      look();
      return goneAt;
    }
  }
}

for await (const line of console) {
  if (!line.trim()) continue;
  let answer: object;
  try {
    const value = await perform(JSON.parse(line) as Call);
    answer = { value, at: performance.now() };
  } catch (err) {
    const e = err as Error;
    answer = { error: { name: e.name, message: e.message, ...(err instanceof OsError ? { code: err.code, errno: err.errno } : {}) }, at: performance.now() };
  }
  console.log(JSON.stringify(answer));
}
