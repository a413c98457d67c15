import { afterAll, expect, test } from "bun:test";
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { NodeProcess, freePort, tandem, tempDir, writeSecret } from "../../helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`dashboard test skipped: ${CHROMIUM} is missing (npm test installs Debian's chromium as root)`);

const tmp = tempDir("dash");
let node: NodeProcess | undefined;
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  node?.kill();
  tmp.cleanup();
});

test.skipIf(!haveChromium)("the dashboard shows the node, its modules and resources, the events before it opened and those that follow, and a state file it could not write", async () => {
  const port = await freePort();
  await tandem(["keygen", "-o", join(tmp.dir, "k")]);
  const token = "dashboard-token-0123456789";
  writeSecret(join(tmp.dir, "t"), token);
  const file = join(tmp.dir, "c.toml");
  writeFileSync(file, `cluster = "dash"\nkey_file = "k"\nstate_dir = "state"\n[[nodes]]\nname = "solo"\naddress = "127.0.0.1"\n[api]\nport = ${port}\ntoken_file = "t"\n[resources]\n[[resources.resource]]\nname = "dummy"\nagent = "ocf:heartbeat:Dummy"\n`);
  node = new NodeProcess(["-c", file, "--node", "solo"], tmp.dir, { HA_RSCTMP: tmp.dir });
  await node.waitLog("the node to run", (l) => l.event === "runtime.running");

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
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

  const r = await fetch(`http://127.0.0.1:${port}/v1/reload`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  await page.locator("#events div", { hasText: "config.reload" }).waitFor({ timeout: 10_000 });

  renameSync(join(tmp.dir, "state"), join(tmp.dir, "state.away"));
  writeFileSync(join(tmp.dir, "state"), "");
  expect((await fetch(`http://127.0.0.1:${port}/v1/resources/standby/solo`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(202);
  await page.locator("#state", { hasText: "state file not written: ENOTDIR" }).waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(tmp.dir, "dashboard.png") });
  if (process.env.TANDEM_SCREENSHOT) await page.screenshot({ path: process.env.TANDEM_SCREENSHOT });
}, 60_000);
