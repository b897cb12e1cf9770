// The probe thread (see probe-thread.ts): answers GET /health/live and /health/ready from the
// last snapshot of the main loop. Loopback callers get the full report, everyone else the status
// and each infrastructure component's up/down, as on the gateway.
import http from "node:http";
import { parentPort, workerData } from "node:worker_threads";
import { clientIp } from "../gateway/client-ip";
import {
  healthProbeOf,
  isLoopbackAddress,
  probeMethodRefusal,
  publicReadiness,
  readinessStatusCode,
} from "./probe-views";
import type { ProbeSnapshot, ProbeWorkerData } from "./probe-thread";

const cfg = workerData as ProbeWorkerData;
let last: ProbeSnapshot | undefined;
parentPort!.on("message", (m: ProbeSnapshot) => {
  if (m.type === "snapshot") last = m;
});

function send(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const p = healthProbeOf(req.url);
  if (!p) return send(res, 404, { error: { code: "NOT_FOUND", message: "Not found." } });
  const refusal = probeMethodRefusal(req.method);
  if (refusal) {
    res.setHeader("Allow", "GET, HEAD");
    return send(res, 405, refusal);
  }
  const full = isLoopbackAddress(clientIp(req, cfg.trustProxyHops));
  const silentMs = last ? Date.now() - last.at : Infinity;
  if (p === "live") {
    if (!last || silentMs > cfg.liveSilenceMs)
      return send(
        res,
        503,
        full ? { status: "unresponsive", silentMs: last ? silentMs : null } : { status: "unresponsive" },
      );
    return send(res, 200, full ? last.live : { status: last.live.status });
  }
  if (!last || silentMs > cfg.readySilenceMs) {
    const status = last ? "unresponsive" : "starting";
    return send(res, 503, full ? { status, silentMs: last ? silentMs : null } : { status });
  }
  send(res, readinessStatusCode(last.ready), full ? last.ready : publicReadiness(last.ready));
});
server.keepAliveTimeout = 65_000;
server.once("error", (e) => parentPort!.postMessage({ type: "error", message: e.message }));
server.listen(cfg.port, cfg.host, () => {
  const addr = server.address();
  parentPort!.postMessage({
    type: "listening",
    port: typeof addr === "object" && addr ? addr.port : cfg.port,
  });
});
