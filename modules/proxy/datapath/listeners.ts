/**
 * The listening sockets of one worker, by bind: each names the frontend it
 * serves now, so a reload that keeps a bind keeps its socket (it never stops
 * accepting) and only re-points it. A bind whose TLS certificates changed is
 * opened anew beside the old one (SO_REUSEPORT) before the old one closes.
 * With reuse_port every worker has its own socket on each bind and the kernel
 * spreads connections; without, only worker 0 listens.
 */
import type { Socket, TCPSocketListener } from "bun";
import { parseHostPort } from "../../../core/os/ip.ts";
import type { ResolvedFrontend } from "../messages.ts";
import { CONN_HANDLERS, type Conn } from "./conn.ts";

export interface Listening {
  /** The frontend its new connections go to. */
  frontend: string;
  readonly tlsKey: string;
  readonly listener: TCPSocketListener<Listening>;
}

export type Accept = (l: Listening, socket: Socket<Conn>) => void;

function tlsOptions(f: ResolvedFrontend) {
  if (!f.certificates.length) return undefined;
  const [first, ...rest] = f.certificates;
  const sni = [first!, ...rest].flatMap((c) => (c.serverNames ?? []).map((serverName) => ({ cert: c.cert, key: c.key, serverName })));
  // The first certificate serves clients whose name matches none (and clients that send no SNI).
  return [{ cert: first!.cert, key: first!.key }, ...sni];
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
        if (have && have.tlsKey === tlsKey) {
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
    const holder = { frontend: f.name, tlsKey } as { frontend: string; tlsKey: string; listener: TCPSocketListener<Listening> };
    const tls = tlsOptions(f);
    holder.listener = Bun.listen<Listening>({
      hostname: hp.address,
      port: hp.port,
      allowHalfOpen: true,
      data: holder,
      ...(tls ? { tls } : {}),
      ...({ reusePort, exclusive: !reusePort } as object),
      socket: {
        ...(CONN_HANDLERS as unknown as Record<string, unknown>),
        open(s: Socket<Listening>) {
          accept(s.data, s as unknown as Socket<Conn>);
        },
      },
    } as unknown as Bun.TCPSocketListenOptions<Listening>);
    return holder;
  }
}
