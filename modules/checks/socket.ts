/**
 * One TCP or TLS conversation with a server, as the tcp and http checkers
 * hold it: connect, write a request, read until the reader has enough or the
 * peer closes, then close at once. Bounded by a signal; never rejects.
 */
import type { Socket } from "bun";

/** A signal that aborts with the caller's or after `timeoutMs`, and the words for why. */
export function withTimeout(signal: AbortSignal, timeoutMs: number): { signal: AbortSignal; why: () => string; clear: () => void } {
  const ctl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort();
  }, timeoutMs);
  const cancel = () => ctl.abort();
  if (signal.aborted) ctl.abort();
  else signal.addEventListener("abort", cancel, { once: true });
  return {
    signal: ctl.signal,
    why: () => (timedOut ? `no answer within ${timeoutMs} ms` : "cancelled"),
    clear: () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", cancel);
    },
  };
}

/** An error's code when it has one (ECONNREFUSED), else its message. */
export function describeError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code) return code;
  return err instanceof Error ? err.message : String(err);
}

/** A TLS error's reason: the certificate's code (DEPTH_ZERO_SELF_SIGNED_CERT), or OpenSSL's reason for a failed handshake (WRONG_VERSION_NUMBER). */
function tlsReason(err: Error): string {
  const code = describeError(err);
  return code === "EPROTO" ? (err.message.split(":").pop() ?? code) : code;
}

export interface Conversation {
  address: string;
  port: number;
  /** TLS: the name to send (SNI; none when undefined) and whether the certificate must verify. */
  tls?: { serverName: string | undefined; verify: boolean };
  /** Written once connected (after the handshake for TLS). */
  request?: Uint8Array;
  /** Each chunk read; true when enough came. Without it the connection is closed as soon as it is open. */
  receive?: (chunk: Uint8Array) => boolean;
}

/**
 * Resolves with null when it went as asked (connected; then the reader had
 * enough, or the peer closed: the reader tells whether that was enough), or
 * with what went wrong. The socket is closed with a reset (SO_LINGER 0), as
 * HAProxy closes its checks, so that checks leave no TIME_WAIT behind.
 */
export function converse(c: Conversation, signal: AbortSignal): Promise<string | null> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve("aborted");
    let socket: Socket | null = null;
    let settled = false;
    let pending = c.request ?? null;
    /** What the handshake reported: ignored with verify off, unless the connection then fails. */
    let tlsError: string | null = null;
    const finish = (error: string | null) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket?.terminate();
      resolve(error);
    };
    const onAbort = () => finish("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    const send = (s: Socket) => {
      if (!c.receive) return finish(null);
      while (pending) {
        const n = s.write(pending);
        if (n < 0) return finish(tlsError ? `TLS: ${tlsError}` : "the connection closed before the request was written");
        if (n < pending.length) {
          pending = pending.subarray(n);
          return;
        }
        pending = null;
      }
    };
    const tls = c.tls ? { tls: { ...(c.tls.serverName ? { serverName: c.tls.serverName } : {}), rejectUnauthorized: c.tls.verify } } : {};
    Bun.connect({
      hostname: c.address,
      port: c.port,
      ...tls,
      socket: {
        open(s) {
          socket = s;
          if (settled) s.terminate();
          else if (!c.tls) send(s);
        },
        handshake(s, authorized, err) {
          tlsError = err ? tlsReason(err) : null;
          if (!authorized && c.tls?.verify) finish(`TLS: ${tlsError ?? "the certificate does not verify"}`);
          else send(s);
        },
        drain(s) {
          send(s);
        },
        data(_s, chunk) {
          if (c.receive?.(chunk)) finish(null);
        },
        end() {
          finish(null);
        },
        close(_s, err) {
          finish(err ? describeError(err) : null);
        },
        error(_s, err) {
          finish(describeError(err));
        },
        connectError(_s, err) {
          finish(`connect: ${describeError(err)}`);
        },
      },
    }).then(
      (s) => {
        socket = s;
        if (settled) s.terminate();
      },
      (err) => finish(`connect: ${describeError(err)}`),
    );
  });
}
