/**
 * The client of the failover bench, run in the client's namespace:
 * `bun prober.ts ADDRESS PORT SECONDS`. Every EVERY_MS it opens a new TCP
 * connection to ADDRESS:PORT, asks GET /, and prints "<wall ms> <answer>" for
 * each answer (the real server's name) when it arrives. Each attempt gives up
 * after ATTEMPT_MS; the whole run ends after SECONDS.
 */
const EVERY_MS = 10;
const ATTEMPT_MS = 1000;
const [address, portText, secondsText] = process.argv.slice(2);
const port = Number(portText);
const until = Date.now() + Number(secondsText) * 1000;
if (!address || !(port > 0) || !(Number(secondsText) > 0)) {
  console.error("usage: bun prober.ts ADDRESS PORT SECONDS");
  process.exit(2);
}

function attempt(): void {
  let body = "";
  let done = false;
  const finish = (socket?: { end(): void }) => {
    if (done) return;
    done = true;
    socket?.end();
    const name = body.split("\r\n\r\n")[1]?.trim();
    if (name) console.log(`${Date.now()} ${name}`);
  };
  const timer = setTimeout(() => finish(), ATTEMPT_MS);
  Bun.connect({
    hostname: address!,
    port,
    socket: {
      open(s) {
        s.write("GET / HTTP/1.0\r\n\r\n");
      },
      data(s, chunk) {
        body += chunk.toString();
        if (body.includes("\r\n\r\n") && body.endsWith("\n")) {
          clearTimeout(timer);
          finish(s);
        }
      },
      close() {
        clearTimeout(timer);
        finish();
      },
      error() {
        clearTimeout(timer);
        finish();
      },
    },
  }).catch(() => {
    clearTimeout(timer);
    finish();
  });
}

const tick = setInterval(() => {
  if (Date.now() >= until) {
    clearInterval(tick);
    setTimeout(() => process.exit(0), ATTEMPT_MS);
    return;
  }
  attempt();
}, EVERY_MS);
