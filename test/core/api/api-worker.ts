/** A running API worker driven by messages, as the control thread drives it, for tests; a self-signed certificate for it. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAX_CONNECTIONS, MAX_SSE_CLIENTS, type Access, type FromWorker, type ListenSpec, type ToWorker } from "../../../core/api/messages.ts";
import type { RouteInfo } from "../../../core/api/routes.ts";
import type { TandemEvent } from "../../../core/events.ts";

export interface RunningWorker {
  base: string;
  port: number;
  post(m: ToWorker): void;
  received: FromWorker[];
  stop(): void;
}

export const event = (id: number, pad = 0): TandemEvent => ({ id, at: 0, type: "test.event", node: "solo", data: { n: id, pad: "x".repeat(pad) } });

/** `control`: answer as a control thread would (status, metrics and every forwarded request at once). */
export async function startWorker(opts: { access?: Partial<Access>; listen?: Partial<ListenSpec>; routes?: RouteInfo[]; history?: TandemEvent[]; control?: boolean } = {}): Promise<RunningWorker> {
  const worker = new Worker(new URL("../../../core/api/worker.ts", import.meta.url).href);
  const received: FromWorker[] = [];
  const post = (m: ToWorker) => worker.postMessage(m);
  const listening = new Promise<number>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      received.push(e.data);
      if (opts.control) answer(e.data);
      if (e.data.type === "listening") resolve(e.data.port);
      if (e.data.type === "listen-failed") reject(new Error(e.data.error));
    };
  });
  const answer = (m: FromWorker) => {
    if (m.type === "status-request") post({ type: "status", body: { node: "solo" } });
    if (m.type === "metrics-request") post({ type: "metrics", text: "" });
    if (m.type === "request") post({ type: "response", id: m.id, response: { status: 202, headers: { "content-type": "application/json" }, body: "{}" } });
  };
  const access: Access = { token: null, readToken: null, hosts: ["127.0.0.1", "localhost"], insecureHttp: false, ...opts.access };
  post({ type: "init", version: "test", dashboard: "<!doctype html><title>test</title>", access, routes: opts.routes ?? [], history: opts.history ?? [] });
  const spec: ListenSpec = { hostname: "127.0.0.1", port: 0, tls: null, maxConnections: MAX_CONNECTIONS, maxSseClients: MAX_SSE_CLIENTS, ...opts.listen };
  post({ type: "listen", id: 1, spec });
  const port = await listening;
  return { base: `${spec.tls ? "https" : "http"}://127.0.0.1:${port}`, port, post, received, stop: () => worker.terminate() };
}

/** A self-signed certificate (openssl) for 127.0.0.1, localhost and `ip`, and its key. */
export function selfSigned(ip = "127.0.0.1"): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "tandem-api-tls-"));
  try {
    const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=tandem-test", "-addext", `subjectAltName=IP:127.0.0.1,IP:${ip},DNS:localhost`, "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stderr: "pipe" });
    if (made.exitCode !== 0) throw new Error(`openssl: ${made.stderr.toString()}`);
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
