/**
 * The scale-out bench's client, run in the client's namespace:
 *   bun scale-out-client.ts rate ADDRESS PORT SECONDS CONCURRENCY
 *     CONCURRENCY loops, each opening a new TCP connection, GET /, the answer,
 *     close, again, for SECONDS; prints {"ok":n,"failed":n,"seconds":s}.
 *   bun scale-out-client.ts probe ADDRESS PORT SECONDS
 *     a new connection every EVERY_MS; prints "<wall ms at its start> ok|fail"
 *     per attempt once it is known (an attempt fails after ATTEMPT_MS).
 */
export {};

const EVERY_MS = 10;
const ATTEMPT_MS = 1000;
const [mode, address, portText, secondsText, concurrencyText] = process.argv.slice(2);
const port = Number(portText);
const seconds = Number(secondsText);
if ((mode !== "rate" && mode !== "probe") || !address || !(port > 0) || !(seconds > 0)) {
  console.error("usage: bun scale-out-client.ts rate|probe ADDRESS PORT SECONDS [CONCURRENCY]");
  process.exit(2);
}

/** One connection, one request: true when the real server answered within ATTEMPT_MS. */
function attempt(): Promise<boolean> {
  return new Promise((resolve) => {
    let body = "";
    let done = false;
    const finish = (ok: boolean, socket?: { end(): void }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.end();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), ATTEMPT_MS);
    Bun.connect({
      hostname: address!,
      port,
      socket: {
        open: (s) => void s.write("GET / HTTP/1.0\r\n\r\n"),
        data(s, chunk) {
          body += chunk.toString();
          if (body.includes("\r\n\r\n") && body.endsWith("\n")) finish(true, s);
        },
        close: () => finish(body.includes("\r\n\r\n")),
        error: () => finish(false),
      },
    }).catch(() => finish(false));
  });
}

if (mode === "rate") {
  const until = performance.now() + seconds * 1000;
  let ok = 0;
  let failed = 0;
  const loop = async () => {
    while (performance.now() < until) (await attempt()) ? ok++ : failed++;
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Number(concurrencyText ?? 32) }, loop));
  console.log(JSON.stringify({ ok, failed, seconds: (performance.now() - started) / 1000 }));
} else {
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    if (Date.now() >= until) return;
    const at = Date.now();
    void attempt().then((ok) => console.log(`${at} ${ok ? "ok" : "fail"}`));
    setTimeout(tick, EVERY_MS);
  };
  tick();
}
