import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { NodeProcess, freePort, tandem, tempDir, writeSecret } from "../../helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`dashboard test skipped: ${CHROMIUM} is missing (npm test installs Debian's chromium as root)`);

const tmp = tempDir("dash");
const nodes: NodeProcess[] = [];
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  for (const node of nodes) node.kill();
  tmp.cleanup();
});

/** A running node "solo" of cluster "dash" on 127.0.0.1:PORT with a Dummy resource, from files in DIR under tmp; `api`: more lines of its [api] table, `secrets` its files. */
async function startNode(dir: string, api: string, secrets: Record<string, string>): Promise<number> {
  const port = await freePort();
  const at = join(tmp.dir, dir);
  mkdirSync(at);
  for (const [name, text] of Object.entries(secrets)) writeSecret(join(at, name), text);
  await tandem(["keygen", "-o", join(at, "k")]);
  const file = join(at, "c.toml");
  writeFileSync(file, `cluster = "dash"\nkey_file = "k"\nstate_dir = "state"\n[[nodes]]\nname = "solo"\naddress = "127.0.0.1"\n[api]\nport = ${port}\n${api}[resources]\n[[resources.resource]]\nname = "dummy"\nagent = "ocf:heartbeat:Dummy"\n`);
  const node = new NodeProcess(["-c", file, "--node", "solo"], at, { HA_RSCTMP: at });
  nodes.push(node);
  await node.waitLog("the node to run", (l) => l.event === "runtime.running");
  return port;
}

async function newPage(): Promise<Page> {
  browser ??= await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return browser.newPage();
}

test.skipIf(!haveChromium)("the dashboard shows the node, its modules and resources, the events before it opened and those that follow, and a state file it could not write", async () => {
  const token = "dashboard-token-0123456789";
  const port = await startNode("open", `token_file = "t"\n`, { t: token });
  const page = await newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.locator("#node", { hasText: "solo" }).waitFor({ timeout: 10_000 });
  expect(await page.textContent("#cluster")).toBe("dash");
  expect(await page.textContent("#phase")).toBe("running");
  expect(await page.isHidden("#state")).toBe(true);
  await page.locator("#conn", { hasText: "live" }).waitFor({ timeout: 10_000 });
  await page.locator("#events div", { hasText: "runtime.running" }).waitFor({ timeout: 10_000 });
  const row = page.locator("#modules tr", { hasText: "api" });
  expect(await row.locator("td").nth(1).textContent()).toBe("running");
  const dummy = page.locator("#resources tr", { hasText: "ocf:heartbeat:Dummy" });
  await dummy.locator("td", { hasText: "started on solo" }).waitFor({ timeout: 10_000 });
  expect(await page.textContent("#dc")).toBe("DC solo");
  await dummy.locator("td", { hasText: "yes" }).waitFor({ timeout: 10_000 });
  expect((await fetch(`http://127.0.0.1:${port}/v1/resources/maintenance/on?resource=dummy`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(202);
  await dummy.locator("td.state-maintenance", { hasText: "maintenance on solo" }).waitFor({ timeout: 10_000 });

  const r = await fetch(`http://127.0.0.1:${port}/v1/reload`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  await page.locator("#events div", { hasText: "config.reload" }).waitFor({ timeout: 10_000 });

  renameSync(join(tmp.dir, "open", "state"), join(tmp.dir, "open", "state.away"));
  writeFileSync(join(tmp.dir, "open", "state"), "");
  expect((await fetch(`http://127.0.0.1:${port}/v1/resources/standby/solo`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(202);
  await page.locator("#state", { hasText: "state file not written: ENOTDIR" }).waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(tmp.dir, "dashboard.png") });
  if (process.env.TANDEM_SCREENSHOT) await page.screenshot({ path: process.env.TANDEM_SCREENSHOT });
}, 60_000);

test.skipIf(!haveChromium)("with a read token the dashboard asks for it once in this tab, then shows the node, its resources and its events; the token goes in headers, never in a URL", async () => {
  const read = "dashboard-read-token-0123456789";
  const port = await startNode("guarded", `read_token_file = "r"\n`, { r: read });
  const page = await newPage();
  const urls: string[] = [];
  const bearers = new Map<string, string | undefined>();
  page.on("request", (r) => {
    urls.push(r.url());
    bearers.set(new URL(r.url()).pathname, r.headers().authorization);
  });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.locator("#login").waitFor({ state: "visible", timeout: 10_000 });
  expect(await page.textContent("#node")).toBe("…");
  expect(await page.isHidden("#refused")).toBe(true);

  await page.fill("#token", "not-the-read-token-0123456789");
  await page.click("#login button");
  await page.locator("#refused").waitFor({ state: "visible", timeout: 10_000 });
  expect(await page.textContent("#node")).toBe("…");

  await page.fill("#token", read);
  await page.click("#login button");
  await page.locator("#node", { hasText: "solo" }).waitFor({ timeout: 10_000 });
  expect(await page.isHidden("#login")).toBe(true);
  expect(await page.textContent("#phase")).toBe("running");
  await page.locator("#conn", { hasText: "live" }).waitFor({ timeout: 10_000 });
  await page.locator("#events div", { hasText: "runtime.running" }).waitFor({ timeout: 10_000 });
  await page.locator("#resources tr", { hasText: "ocf:heartbeat:Dummy" }).locator("td", { hasText: "started on solo" }).waitFor({ timeout: 10_000 });
  for (const path of ["/v1/status", "/v1/events", "/v1/resources/"]) expect(bearers.get(path)).toBe(`Bearer ${read}`);

  // A reload of the page in the same tab does not ask again.
  await page.reload();
  await page.locator("#node", { hasText: "solo" }).waitFor({ timeout: 10_000 });
  expect(await page.isHidden("#login")).toBe(true);
  expect(urls.some((u) => u.includes("/v1/events"))).toBe(true);
  expect(urls.filter((u) => u.includes(read) || u.includes("token"))).toEqual([]);
}, 60_000);
