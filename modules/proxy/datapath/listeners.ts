/**
 * The listening sockets of one worker, by bind: each names the frontend it
 * serves now, so a reload that keeps a bind keeps its socket (it never stops
 * accepting) and only re-points it. A TLS bind whose certificates changed
 * keeps its socket too, and its certificates are swapped in its SNI table:
 * closing a listening socket resets the connections still in its backlog.
 * Only a bind that turns from plain to TLS or back is opened anew (beside the
 * old one with SO_REUSEPORT; without reuse_port, after it: a short refusal).
 * With reuse_port every worker has its own socket on each bind and the kernel
 * spreads connections; without, only worker 0 listens.
 */
import type { Socket, TCPSocketListener } from "bun";
import { X509Certificate } from "node:crypto";
import { createServer as createTlsServer } from "node:tls";
import { parseHostPort } from "../../../core/os/ip.ts";
import type { ResolvedFrontend } from "../messages.ts";
import { CONN_HANDLERS, Conn } from "./conn.ts";

export interface Listening {
  /** The frontend its new connections go to. */
  frontend: string;
  /** Its certificates as configured (JSON), "[]" for plain. */
  tlsKey: string;
  readonly listener: TCPSocketListener<Listening>;
  /** A TLS bind's certificate table (node:tls's, which Bun's listener reads): swapped on a reload. */
  readonly sni?: SniTable;
}

export type Accept = (l: Listening, socket: Socket<Conn>) => void;

/** The names a certificate serves: as configured, else its subjectAltName DNS names (its CN when it has none). */
function serverNames(c: ResolvedFrontend["certificates"][number]): string[] {
  if (c.serverNames?.length) return c.serverNames;
  const x = new X509Certificate(c.cert);
  const dns = (x.subjectAltName ?? "").split(", ").filter((n) => n.startsWith("DNS:")).map((n) => n.slice(4));
  if (dns.length) return dns;
  const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1];
  return cn ? [cn] : [];
}

/**
 * A TLS listener whose certificate is chosen by SNI. Bun.listen takes one
 * certificate; its SNI table is filled only through node:tls's
 * `Server.addContext` (an internal of Bun's). So a tls.Server is made with
 * the certificates, and the Bun.listen it calls (synchronously, for an
 * address) is given this data path's handlers instead of node's: the
 * sockets are plain Bun sockets, the SNI table node's.
 */
function listenTls(hostname: string, port: number, f: ResolvedFrontend, options: object): { listener: TCPSocketListener<Listening>; sni: SniTable } {
  const [first] = f.certificates;
  const server = createTlsServer({ cert: first!.cert, key: first!.key });
  server.on("error", () => undefined);
  const sni = new SniTable(server);
  sni.load(f.certificates, false);
  const listen = Bun.listen;
  let made: TCPSocketListener<Listening> | undefined;
  let failed: unknown;
  (Bun as { listen: unknown }).listen = (o: object) => {
    try {
      return (made = listen({ ...o, ...options } as unknown as Bun.TCPSocketListenOptions<Listening>));
    } catch (e) {
      failed = e;
      throw e;
    }
  };
  try {
    server.listen({ host: hostname, port });
  } catch (e) {
    failed ??= e;
  } finally {
    (Bun as { listen: unknown }).listen = listen;
  }
  if (!made) throw failed instanceof Error ? failed : new Error(`Failed to listen at ${hostname}`);
  return { listener: made, sni };
}

/**
 * The certificates of one TLS listener: the first is the default (for a name
 * no certificate claims), each name its certificate's. node:tls has no way
 * to remove a name, so a name a reload drops is given the default.
 */
class SniTable {
  private names = new Set<string>();

  constructor(private readonly server: ReturnType<typeof createTlsServer>) {}

  load(certificates: ResolvedFrontend["certificates"], swapDefault: boolean): void {
    const [first] = certificates;
    if (swapDefault) this.server.setSecureContext({ cert: first!.cert, key: first!.key });
    const names = new Set<string>();
    for (const c of certificates) for (const name of serverNames(c)) if (!names.has(name)) (names.add(name), this.server.addContext(name, { cert: c.cert, key: c.key }));
    for (const name of this.names) if (!names.has(name)) this.server.addContext(name, { cert: first!.cert, key: first!.key });
    this.names = names;
  }
}

export class Listeners {
  private readonly byBind = new Map<string, Listening>();

  constructor(private readonly accept: Accept) {}

  /** Listen on every bind of `frontends`, keep what is unchanged, close what is gone. Errors name the binds that failed. */
  update(frontends: readonly ResolvedFrontend[], reusePort: boolean): string[] {
    const errors: string[] = [];
    const wanted = new Set<string>();
    const retire: Listening[] = [];
    for (const f of frontends) {
      const tlsKey = JSON.stringify(f.certificates);
      for (const bind of f.bind) {
        wanted.add(bind);
        const have = this.byBind.get(bind);
        if (have && (have.tlsKey === tlsKey || (have.sni && f.certificates.length))) {
          if (have.tlsKey !== tlsKey) {
            try {
              have.sni!.load(f.certificates, true);
            } catch (e) {
              errors.push(`${bind}: ${(e as Error).message}`);
              continue;
            }
            have.tlsKey = tlsKey;
          }
          have.frontend = f.name;
          continue;
        }
        if (have && !reusePort) {
          have.listener.stop(false);
          this.byBind.delete(bind);
        }
        try {
          this.byBind.set(bind, this.open(bind, f, tlsKey, reusePort));
          if (have && reusePort) retire.push(have);
        } catch (e) {
          errors.push(`${bind}: ${(e as Error).message}`);
        }
      }
    }
    for (const [bind, l] of this.byBind) if (!wanted.has(bind)) (this.byBind.delete(bind), retire.push(l));
    for (const l of retire) l.listener.stop(false);
    return errors;
  }

  /** Stop accepting on every bind; accepted connections go on. */
  close(): void {
    for (const l of this.byBind.values()) l.listener.stop(false);
    this.byBind.clear();
  }

  private open(bind: string, f: ResolvedFrontend, tlsKey: string, reusePort: boolean): Listening {
    const hp = parseHostPort(bind);
    if (!hp) throw new Error("not ADDRESS:PORT");
    const accept = this.accept;
    const holder = { frontend: f.name, tlsKey } as { frontend: string; tlsKey: string; listener: TCPSocketListener<Listening>; sni?: SniTable };
    const options = {
      allowHalfOpen: true,
      data: holder,
      reusePort,
      exclusive: !reusePort,
      socket: {
        ...CONN_HANDLERS,
        open(s: Socket<Listening>) {
          accept(s.data, s as unknown as Socket<Conn>);
        },
        // A TLS client that fails or hangs up during its handshake never reaches `open`: its socket still
        // carries the listener's holder, and there is no Conn to tell.
        close(s: Socket<Conn | Listening>, error?: Error) {
          if (s.data instanceof Conn) s.data.gone(error);
        },
        error(s: Socket<Conn | Listening>, error: Error) {
          s.terminate();
          if (s.data instanceof Conn) s.data.gone(error);
        },
      },
    };
    if (f.certificates.length) Object.assign(holder, listenTls(hp.address, hp.port, f, options));
    else holder.listener = Bun.listen({ hostname: hp.address, port: hp.port, ...options } as unknown as Bun.TCPSocketListenOptions<Listening>);
    return holder;
  }
}
