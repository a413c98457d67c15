/**
 * Tandem's NBD server on its own, for the replication bench: `nbd-serve.ts
 * FILE SOCKET [PORT]` serves FILE as the default export on the unix socket
 * (and TCP 127.0.0.1:PORT), from the server's thread as the node runs it
 * (NbdThread), until SIGTERM. Prints "ready" once it listens. Run by the compiled binary as
 * `BUN_BE_BUN=1 tandem nbd-serve.ts ...`, or by bun.
 */
import { realClock } from "../../core/time.ts";
import { NbdThread } from "../../modules/replication/nbd/thread.ts";

const [file, socket, port] = process.argv.slice(2);
if (!file || !socket) {
  console.error("usage: nbd-serve.ts FILE SOCKET [PORT]");
  process.exit(2);
}
const tcp = port === undefined ? undefined : { hostname: "127.0.0.1", port: Number(port) };
const thread = await NbdThread.start([{ name: "", path: file }], { unix: socket, tcp }, realClock);
process.on("SIGTERM", () => void thread.stop().then(() => process.exit(0)));
console.log("ready");
