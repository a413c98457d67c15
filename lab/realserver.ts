/**
 * The lab's real server: a tiny HTTP server that answers every GET with its
 * own name, so a client can tell which server a request reached.
 */
export function parseListen(listen: string): { hostname: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(listen);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { hostname: m[1]!, port } : undefined;
}

/** Serve until the process ends; returns the URL it listens on. */
export function serveRealServer(name: string, hostname: string, port: number): string {
  const server = Bun.serve({
    hostname,
    port,
    fetch(req) {
      if (req.method !== "GET" && req.method !== "HEAD") return new Response("only GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
      return new Response(`${name}\n`, { headers: { "content-type": "text/plain; charset=utf-8" } });
    },
  });
  return server.url.href;
}
