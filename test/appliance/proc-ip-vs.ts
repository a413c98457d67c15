/**
 * Reads the kernel's /proc/net/ip_vs as an operator at the appliance's console
 * sees it (what `ipvsadm -Ln` prints, in hex): the virtual services and their
 * real servers, addresses in dotted form. Lines that are not part of the table
 * (the console also carries Tandem's log) are skipped; text without the
 * table's header is not a reading of it and throws.
 */

export interface ProcRealServer {
  address: string;
  forward: string;
  weight: number;
}

export interface ProcVirtualService {
  protocol: string;
  address: string;
  scheduler: string;
  servers: ProcRealServer[];
}

/** `C6120732:0050` -> `198.18.7.50:80` */
function endpoint(hex: string): string {
  const m = /^([0-9A-F]{8}):([0-9A-F]{4})$/.exec(hex);
  if (!m) throw new Error(`not an IPv4 endpoint of /proc/net/ip_vs: ${hex}`);
  const ip = [0, 2, 4, 6].map((i) => parseInt(m[1]!.slice(i, i + 2), 16)).join(".");
  return `${ip}:${parseInt(m[2]!, 16)}`;
}

export function parseProcIpVs(text: string): ProcVirtualService[] {
  if (!/^IP Virtual Server version /m.test(text)) throw new Error(`not /proc/net/ip_vs:\n${text}`);
  const services: ProcVirtualService[] = [];
  for (const line of text.split("\n")) {
    const vs = /^(TCP|UDP|SCTP)\s+([0-9A-F]{8}:[0-9A-F]{4})\s+(\S+)/.exec(line);
    if (vs) {
      services.push({ protocol: vs[1]!, address: endpoint(vs[2]!), scheduler: vs[3]!, servers: [] });
      continue;
    }
    const rs = /^\s+->\s+([0-9A-F]{8}:[0-9A-F]{4})\s+(\S+)\s+(\d+)\s+\d+\s+\d+\s*$/.exec(line);
    if (rs && services.length > 0) services.at(-1)!.servers.push({ address: endpoint(rs[1]!), forward: rs[2]!, weight: Number(rs[3]) });
  }
  return services;
}
