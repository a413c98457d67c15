/**
 * The proxy's dashboard panel in a real browser (Debian's chromium, as
 * test/core/api/dashboard.test.ts) on a `tandem run` node with a proxy: the
 * listeners here, the frontend with its counters, the backend's servers with
 * their states, and a drain through the API shown.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { NodeProcess, freePort, tempDir, writeSecret } from "../../helpers.ts";
import { soloProxyNode } from "../../cmd/proxy-node.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`proxy panel test skipped: ${CHROMIUM} is missing (npm test installs Debian's chromium as root)`);

const tmp = tempDir("proxy-panel");
const nodes: NodeProcess[] = [];
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  for (const n of nodes) n.kill();
  tmp.cleanup();
});

const TOKEN = "proxy-panel-token-0123456789";

test.skipIf(!haveChromium)("the panel shows where the listeners run, the frontend's counters and each server's state, a drain included", async () => {
  const [api, front, back] = [await freePort(), await freePort(), await freePort()];
  const backend = Bun.serve({ hostname: "127.0.0.1", port: back, fetch: (r) => new Response("ok", { status: new URL(r.url).pathname === "/missing" ? 404 : 200 }) });
  try {
    writeSecret(join(tmp.dir, "api.token"), `${TOKEN}\n`);
    await soloProxyNode(tmp.dir, { cluster: "proxypanel", api, front, back, apiLines: 'token_file = "api.token"\n' }, nodes);
    for (const path of ["/a", "/b", "/missing"]) await (await fetch(`http://127.0.0.1:${front}${path}`, { headers: { connection: "close" } })).text();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    const page = await browser.newPage();
    // The workers' counters reach the control side within a second (STATS_EVERY_MS); the page is opened again until they show the three requests ended.
    const frontend = page.locator("#proxy-frontends tr", { hasText: "www" });
    for (let i = 0; i < 20; i++) {
      await page.goto(`http://127.0.0.1:${api}/`);
      await frontend.waitFor({ timeout: 10_000 });
      const [requests, active] = [await frontend.locator("td").nth(3).textContent(), await frontend.locator("td").nth(4).textContent()];
      if (requests === "3" && active === "0") break;
      await Bun.sleep(250);
    }
    expect(await page.textContent("#proxy-listening")).toBe("listeners run here: 1 of 1 workers, generation 1");
    expect(await frontend.locator("td").allTextContents()).toEqual(["www", `127.0.0.1:${front}`, "http", "3", "0", "2xx 2, 4xx 1", "0"]);
    const server = page.locator("#proxy-servers tr", { hasText: `web/127.0.0.1:${back}` });
    expect(await server.locator("td").allTextContents()).toEqual(["web (roundrobin)", `web/127.0.0.1:${back}`, "up", "1", "0", "3", "0", "drain"]);
    expect(await server.locator("td").nth(2).getAttribute("class")).toBe("state-running");

    const r = await fetch(`http://127.0.0.1:${api}/v1/proxy/servers/web/127.0.0.1:${back}/drain`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(200);
    // The change is an event (proxy.server): the page refreshes by itself.
    await server.locator("td", { hasText: "up, drain" }).waitFor({ timeout: 10_000 });
    expect(await server.locator("td").nth(2).getAttribute("class")).toBe("state-stopping");
    // The drained server's action is now ready (the page's confirmation dialog posts it).
    expect(await server.locator("button").textContent()).toBe("ready");
  } finally {
    backend.stop(true);
  }
}, 60_000);
