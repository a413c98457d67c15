/**
 * The API load of issue 11, from a client namespace: REPLAY clients each
 * open `GET /v1/events?since=0` (the whole history replayed), read it for a
 * moment, drop it and open it again; HEADS clients send `HEAD /v1/events` in
 * a loop; no token. For SECONDS, then prints what was done as JSON.
 * Usage: bun api-flood.ts BASE_URL REPLAY HEADS SECONDS
 */
export {};

const [base, replayText, headsText, secondsText] = process.argv.slice(2) as [string, string, string, string];
/** How long one replay client reads its stream before it drops it. */
const READ_MS = 100;
/** What one replay client reads at most before it drops the stream. */
const READ_BYTES = 256 * 1024;

const until = Date.now() + Number(secondsText) * 1000;
const done = { replays: 0, heads: 0, bytes: 0, failed: 0, errors: [] as string[] };
const failed = (why: string) => {
  done.failed++;
  if (done.errors.length < 5) done.errors.push(why);
};

async function replay(): Promise<void> {
  while (Date.now() < until) {
    const ctl = new AbortController();
    const stop = setTimeout(() => ctl.abort(), READ_MS);
    let got = 0;
    try {
      const r = await fetch(`${base}/v1/events?since=0`, { signal: ctl.signal });
      if (r.status !== 200) failed(`GET ${r.status}`);
      for await (const chunk of r.body!) {
        got += chunk.length;
        if (got >= READ_BYTES) break;
      }
      done.replays++;
    } catch (e) {
      if ((e as Error).name === "AbortError") done.replays++;
      else failed(`GET ${(e as Error).message}`);
    } finally {
      done.bytes += got;
      clearTimeout(stop);
      ctl.abort();
    }
  }
}

async function head(): Promise<void> {
  while (Date.now() < until) {
    try {
      const r = await fetch(`${base}/v1/events`, { method: "HEAD" });
      if (r.status !== 200) failed(`HEAD ${r.status}`);
      done.heads++;
    } catch (e) {
      failed(`HEAD ${(e as Error).message}`);
    }
  }
}

await Promise.all([...Array.from({ length: Number(replayText) }, replay), ...Array.from({ length: Number(headsText) }, head)]);
console.log(JSON.stringify(done));
