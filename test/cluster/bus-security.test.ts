// The bus is authenticated and encrypted: a private nats-server runs the shipped nats/nats.conf and
// nats/permissions.conf (TLS required, one user per role) with certificates made by
// nats/gen-dev-certs.sh. AURA brokers built by brokerConfig with the transporter options the
// configuration module reads join it only with valid credentials over TLS verified against the
// right CA; a node of one role cannot read what is addressed to another role; the read-only role
// cannot call an action. Every refusal stops broker.start() at once with a message naming what to fix.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Errors, ServiceBroker, type BrokerOptions, type Context } from "moleculer";
import { connect, nkeys } from "nats";
import { transportConfig } from "../../src/adapters/config/transport";
import { busNodeId, natsTransporter } from "../../src/runtime/bus";
import { brokerConfig } from "../../src/runtime/runner";
import { freePort } from "../support/ports";

jest.setTimeout(60_000);
const ROOT = path.resolve(__dirname, "../..");

function hasBinary(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nats-server did not listen on ${port}`);
}

let available = false;
let dir = "";
let url = "";
let server: ChildProcess | undefined;
let serverLog = "";
const passwords: Record<string, string> = {};
const brokers: ServiceBroker[] = [];
let seedFile = "";
let nkeyPublic = "";

beforeAll(async () => {
  const missing = ["nats-server", "openssl"].filter((b) => !hasBinary(b));
  if (missing.length) {
    const msg = `bus security suite needs ${missing.join(" and ")} on PATH.`;
    if (process.env.CI === "true" || process.env.CI === "1")
      throw new Error(`${msg} CI must run this suite.`);
    process.stderr.write(`\n*** SKIPPING bus security suite: ${msg} ***\n\n`);
    return;
  }
  available = true;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "aura-bus-"));
  const gen = path.join(ROOT, "nats/gen-dev-certs.sh");
  execFileSync("bash", [gen, path.join(dir, "certs")], { stdio: "ignore" });
  // a second, unrelated CA: what a node configured for another cluster would trust
  execFileSync("bash", [gen, path.join(dir, "other")], { stdio: "ignore" });

  const user = nkeys.createUser();
  nkeyPublic = user.getPublicKey();
  seedFile = path.join(dir, "backtest.nk");
  fs.writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()), { mode: 0o600 });

  const port = await freePort();
  const httpPort = await freePort();
  url = `nats://127.0.0.1:${port}`;
  // the shipped configuration, with this run's port, files and one nkey user added
  fs.copyFileSync(path.join(ROOT, "nats/permissions.conf"), path.join(dir, "permissions.conf"));
  const conf = fs
    .readFileSync(path.join(ROOT, "nats/nats.conf"), "utf8")
    .replace(/^port: 4222$/m, `listen: "127.0.0.1:${port}"`)
    .replace(/^http: .*$/m, `http: "127.0.0.1:${httpPort}"`)
    .replace(/"\/data"/, JSON.stringify(path.join(dir, "js")))
    .replaceAll("/etc/nats/certs", path.join(dir, "certs"))
    .replace(/users: \[/, `users: [\n    { nkey: ${nkeyPublic}, permissions: $AURA_BACKTEST }`);
  expect(conf).toContain(path.join(dir, "certs", "server.pem"));
  expect(conf).toContain(nkeyPublic);
  fs.writeFileSync(path.join(dir, "nats.conf"), conf);

  const env: Record<string, string> = { PATH: process.env.PATH ?? "" };
  for (const role of ["GATEWAY", "MARKET_DATA", "STRATEGY_RUNNER", "BACKTEST", "OPERATOR", "OBSERVER"]) {
    // starting with a letter: nats-server parses an environment value as a configuration token,
    // so "9e4…" would be a number (nats/gen-passwords.sh makes them the same way)
    passwords[role] = `p${crypto.randomBytes(24).toString("hex")}`;
    env[`NATS_${role}_PASSWORD`] = passwords[role];
  }
  server = spawn("nats-server", ["-c", path.join(dir, "nats.conf")], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout!.on("data", (d) => (serverLog += d));
  server.stderr!.on("data", (d) => (serverLog += d));
  try {
    await waitForPort(port);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${serverLog}`);
  }
});

afterEach(async () => {
  while (brokers.length)
    await brokers
      .pop()!
      .stop()
      .catch(() => undefined);
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once("exit", r));
    server.kill("SIGTERM");
    await exited;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const certs = (f: string) => path.join(dir, "certs", f);

/** A broker as an AURA process builds it from these variables (TRANSPORTER is this run's server). */
function auraBroker(
  vars: Record<string, string>,
  name: string,
  extra: Partial<BrokerOptions> = {},
): { broker: ServiceBroker; nodeID: string } {
  const bus = transportConfig({ TRANSPORTER: url, ...vars });
  const nodeID = extra.nodeID ?? busNodeId(bus, `${name}-${crypto.randomBytes(3).toString("hex")}`);
  const transporter = natsTransporter(url, bus);
  const broker = new ServiceBroker(
    brokerConfig({
      namespace: "aura",
      logLevel: "fatal",
      requestTimeout: 5000,
      transporter,
      ...extra,
      nodeID,
    }),
  );
  brokers.push(broker);
  return { broker, nodeID };
}

const asRole = (role: string, extra: Record<string, string> = {}) => ({
  NATS_TLS_CA: certs("ca.pem"),
  NATS_USER: role,
  NATS_PASSWORD: passwords[role.toUpperCase().replace(/-/g, "_")],
  ...extra,
});

/** broker.start() must reject quickly; returns the message. */
async function refusedStart(broker: ServiceBroker): Promise<string> {
  const t0 = Date.now();
  let message = "";
  await broker.start().then(
    () => {
      throw new Error("the broker joined the bus");
    },
    (e: Error) => {
      message = e.message;
    },
  );
  // Moleculer alone would retry every 5 s for ever
  expect(Date.now() - t0).toBeLessThan(5000);
  for (const pw of Object.values(passwords)) expect(message).not.toContain(pw);
  return message;
}

function echoService(calls: string[]) {
  return {
    name: "echo",
    actions: {
      hello(ctx: Context) {
        calls.push(ctx.nodeID ?? "?");
        return { caller: ctx.caller ?? null, from: ctx.nodeID };
      },
    },
    events: {
      "echo.poke"(ctx: Context) {
        calls.push(`event from ${ctx.nodeID}`);
      },
    },
  };
}

test("nodes of two roles, with a password and with an nkey, over TLS, see each other and call an action", async () => {
  if (!available) return;
  const calls: string[] = [];
  const gw = auraBroker(asRole("gateway"), "gw");
  expect(gw.nodeID).toMatch(/^gateway\.gw-/);
  gw.broker.createService(echoService(calls));
  const runner = auraBroker(asRole("strategy-runner"), "runner");
  const backtest = auraBroker({ NATS_TLS_CA: certs("ca.pem"), NATS_NKEY_SEED: seedFile }, "bt", {
    nodeID: `backtest.bt-${process.pid}`,
  });
  await Promise.all([gw.broker.start(), runner.broker.start(), backtest.broker.start()]);

  await runner.broker.waitForServices("echo", 10_000);
  await backtest.broker.waitForServices("echo", 10_000);
  const everyone = [gw.nodeID, runner.nodeID, backtest.nodeID].sort();
  // a node without services is known once its INFO has arrived
  let nodes: string[] = [];
  for (let i = 0; i < 50 && nodes.join() !== everyone.join(); i++) {
    if (i) await new Promise((r) => setTimeout(r, 100));
    nodes = ((await runner.broker.call("$node.list")) as { id: string; available: boolean }[])
      .filter((n) => n.available)
      .map((n) => n.id)
      .sort();
  }
  expect(nodes).toEqual(everyone);

  expect(await runner.broker.call("echo.hello", {}, { caller: "strategy-runner" })).toEqual({
    caller: "strategy-runner",
    from: runner.nodeID,
  });
  expect(await backtest.broker.call("echo.hello")).toMatchObject({ from: backtest.nodeID });
  expect(calls).toEqual([runner.nodeID, backtest.nodeID]);
});

test("a node without credentials, or with a wrong password, is refused at once, naming the variables", async () => {
  if (!available) return;
  const none = auraBroker({ NATS_TLS_CA: certs("ca.pem") }, "anon");
  expect(await refusedStart(none.broker)).toMatch(
    /refused this node's credentials \(.*Authorization Violation.*\).*NATS_USER\/NATS_PASSWORD, NATS_NKEY_SEED or NATS_CREDS/i,
  );
  const wrong = auraBroker(
    asRole("gateway", { NATS_PASSWORD: `p${crypto.randomBytes(24).toString("hex")}` }),
    "wrong",
  );
  expect(await refusedStart(wrong.broker)).toMatch(/refused this node's credentials/);
});

test("valid credentials without TLS are refused, by the client and by the server", async () => {
  if (!available) return;
  // no NATS_TLS_CA: the client upgrades because the server requires TLS, and the system's CAs do
  // not vouch for the cluster's certificate, so the password is never sent
  const noCa = auraBroker({ NATS_USER: "gateway", NATS_PASSWORD: passwords.GATEWAY }, "noca");
  expect(await refusedStart(noCa.broker)).toMatch(/TLS with the NATS server failed.*NATS_TLS_CA/);

  // a client that sends them over plain TCP anyway is not accepted
  const port = Number(new URL(url).port);
  const answer = await new Promise<string>((resolve) => {
    let text = "";
    const s = net.connect({ host: "127.0.0.1", port }, () => {
      s.write(`CONNECT {"verbose":false,"user":"gateway","pass":"${passwords.GATEWAY}"}\r\nPING\r\n`);
    });
    s.on("data", (d) => (text += d));
    s.on("close", () => resolve(text));
    s.on("error", () => resolve(text));
    setTimeout(() => s.destroy(), 3000);
  });
  expect(answer).toMatch(/"tls_required":true/);
  expect(answer).not.toMatch(/\bPONG\b/);
});

test("a node that trusts another CA is refused", async () => {
  if (!available) return;
  const other = auraBroker(asRole("gateway", { NATS_TLS_CA: path.join(dir, "other", "ca.pem") }), "otherca");
  expect(await refusedStart(other.broker)).toMatch(/TLS with the NATS server failed \([A-Z_]+: .+\)/);
});

test("a node whose id does not carry its role is refused at start, not left deaf", async () => {
  if (!available) return;
  const misnamed = auraBroker(asRole("gateway"), "x", { nodeID: `backtest.impostor-${process.pid}` });
  expect(await refusedStart(misnamed.broker)).toMatch(
    /refused this node's subscription to MOL-aura\.EVENT\.backtest\.impostor-\d+, MOL-aura\.REQ\.backtest\.impostor/,
  );
});

test("a role cannot subscribe to what is addressed to another role's nodes", async () => {
  if (!available) return;
  const nc = await connect({
    servers: new URL(url).host,
    tls: { caFile: certs("ca.pem") },
    user: "strategy-runner",
    pass: passwords.STRATEGY_RUNNER,
  });
  try {
    const refused: string[] = [];
    for (const subject of [
      "MOL-aura.>",
      "MOL-aura.REQ.gateway.>",
      "MOL-aura.RES.market-data.x",
      "MOL-other.>",
    ])
      nc.subscribe(subject, { callback: (err) => err && refused.push(subject) });
    nc.subscribe("MOL-aura.REQ.strategy-runner.x", { callback: (err) => err && refused.push("own") });
    await nc.flush();
    expect(refused).toEqual([
      "MOL-aura.>",
      "MOL-aura.REQ.gateway.>",
      "MOL-aura.RES.market-data.x",
      "MOL-other.>",
    ]);
  } finally {
    await nc.close();
  }
});

test("the read-only role sees the cluster but cannot call an action or send an event", async () => {
  if (!available) return;
  const calls: string[] = [];
  const gw = auraBroker(asRole("gateway"), "gw");
  gw.broker.createService(echoService(calls));
  // a call that timed out stays tracked, and stop() would wait the whole shutdown timeout for it
  const observer = auraBroker(asRole("observer"), "watch", {
    tracking: { enabled: true, shutdownTimeout: 500 },
  });
  await gw.broker.start();
  await observer.broker.start();
  await observer.broker.waitForServices("echo", 10_000);
  const nodes = ((await observer.broker.call("$node.list")) as { id: string }[]).map((n) => n.id);
  expect(nodes).toContain(gw.nodeID);

  // the server drops the request (publish permission), so the caller only sees its timeout
  await expect(observer.broker.call("echo.hello", {}, { timeout: 1500 })).rejects.toBeInstanceOf(
    Errors.RequestTimeoutError,
  );
  await observer.broker.emit("echo.poke", {});
  // the gateway itself still works, and nothing the observer sent arrived
  const runner = auraBroker(asRole("strategy-runner"), "runner");
  await runner.broker.start();
  await runner.broker.waitForServices("echo", 10_000);
  await runner.broker.call("echo.hello");
  expect(calls).toEqual([runner.nodeID]);
});
