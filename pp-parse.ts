import { parseRequestHead, parseResponseHead } from "./modules/proxy/http/index.ts";
const req = Buffer.from(`GET /small HTTP/1.1\r\nHost: 127.0.0.1:41787\r\n\r\n`, "latin1");
const res = Buffer.from("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 06:00:00 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 13\r\nLast-Modified: Sat, 05 Dec 2026 05:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"6931f0e0-d\"\r\nAccept-Ranges: bytes\r\n\r\nhello, world\n", "latin1");
const limits = { maxHeaderBytes: 16384, maxHeaders: 100 };
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
let best = [Infinity, Infinity];
for (let r = 0; r < 9; r++) {
  let t = cpu();
  for (let i = 0; i < 200000; i++) parseRequestHead(req, limits);
  best[0] = Math.min(best[0], (cpu() - t) * 1000 / 200000);
  t = cpu();
  for (let i = 0; i < 200000; i++) parseResponseHead(res, limits, "GET");
  best[1] = Math.min(best[1], (cpu() - t) * 1000 / 200000);
}
console.log(`req ${best[0].toFixed(0)} ns, res ${best[1].toFixed(0)} ns`);
