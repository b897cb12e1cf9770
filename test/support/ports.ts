// Ports for servers a test starts in another process (AURA's gateway, health and metrics ports,
// simulators). The usual trick, listen(0) then close, hands back a port from the kernel's
// ephemeral range: the range every outgoing connection on the machine (pg pools, NATS, fetch)
// also draws its local port from. In the seconds between the test choosing such a port and the
// child binding it, any connection may take it, and the child dies with "port already in use".
// Ports below the ephemeral range are never given to outgoing connections, and each jest worker
// draws from its own slice of them, so two suites running side by side never choose the same one.
import fs from "node:fs";
import net from "node:net";

const LOWEST = 20_000;
const SLICES = 16;

function ephemeralLow(): number {
  try {
    const low = Number(
      fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0],
    );
    if (Number.isInteger(low) && low > LOWEST + SLICES * 100) return low;
  } catch {
    // not Linux: fall back to the IANA dynamic range's start
  }
  return 49_152;
}

const sliceSize = Math.floor((ephemeralLow() - LOWEST) / SLICES);
const worker = (Number(process.env.JEST_WORKER_ID) || 1) % SLICES;
const sliceStart = LOWEST + worker * sliceSize;
let next = Math.floor(Math.random() * sliceSize);

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    // the wildcard address conflicts with a listener on any local address, loopback included
    s.listen({ port, host: "0.0.0.0", exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port nothing listens on now and no outgoing connection will take before a child binds it. */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < sliceSize; tried++) {
    const port = sliceStart + (next++ % sliceSize);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${sliceStart}..${sliceStart + sliceSize - 1}`);
}
