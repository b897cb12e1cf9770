// The NATS bus: transporter options from the configuration (TLS, one kind of credentials) and a
// check before the broker connects. Moleculer retries a failed connection every 5 s forever, so a
// wrong password, CA or node id would otherwise look like a node that is merely slow to join; the
// check connects once on its own, and refusals that no retry can cure stop the start with a
// message naming the variables to fix. Network errors are left to Moleculer's retries, since the
// server may simply not be up yet.
import fs from "node:fs";
import os from "node:os";
import type { BrokerOptions, Middleware, ServiceBroker } from "moleculer";
import { Transporters } from "moleculer";
import {
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  usernamePasswordAuthenticator,
  type ConnectionOptions,
  type NatsError,
} from "nats";
import type { TransportConfig } from "../adapters/config/transport";

/** Options for Moleculer's NATS transporter, which hands them to the nats client's `connect`. */
export function natsTransporterOptions(url: string, bus: TransportConfig): Record<string, unknown> {
  const options: Record<string, unknown> = { url };
  if (bus.tls) {
    // the nats client reads these files itself, at every (re)connect
    options.tls = {
      caFile: bus.tls.caFile,
      ...(bus.tls.certFile ? { certFile: bus.tls.certFile, keyFile: bus.tls.keyFile } : {}),
    };
  }
  // Authenticators rather than user/pass fields: broker.options (printed by the REPL's `info`)
  // then shows a function, never the password or the seed.
  const { auth } = bus;
  if (auth.kind === "password")
    options.authenticator = usernamePasswordAuthenticator(auth.user, auth.password);
  else if (auth.kind === "nkey")
    options.authenticator = nkeyAuthenticator(() => new TextEncoder().encode(readSecretFile(auth.seedFile)));
  else if (auth.kind === "creds")
    options.authenticator = credsAuthenticator(() =>
      new TextEncoder().encode(readSecretFile(auth.credsFile)),
    );
  return options;
}

/** Read at each connect, so a rotated secret is picked up by the next reconnect. */
function readSecretFile(file: string): string {
  return fs.readFileSync(file, "utf8").trim();
}

export function natsTransporter(
  url: string,
  bus: TransportConfig,
): NonNullable<BrokerOptions["transporter"]> {
  return { type: "NATS", options: natsTransporterOptions(url, bus) };
}

/**
 * This node's id when NODE_ID is unset: Moleculer's `<host>-<pid>`, behind `<role>.` when the bus
 * user names a role, because the server lets each role subscribe only to `MOL-<ns>.*.<role>.>`.
 */
export function busNodeId(bus: TransportConfig, base = `${os.hostname().toLowerCase()}-${process.pid}`) {
  return bus.role ? `${bus.role}.${base}` : base;
}

/** The subjects Moleculer subscribes to for a node (transit.makeSubscriptions). */
function nodeSubjects(tx: InstanceType<typeof Transporters.Base>, nodeID: string): string[] {
  const topic = (cmd: string, node?: string) => tx.getTopicName(cmd, node as string);
  return [
    ...["EVENT", "REQ", "RES", "DISCOVER", "INFO", "PING", "PONG"].map((c) => topic(c, nodeID)),
    ...["DISCOVER", "INFO", "DISCONNECT", "HEARTBEAT", "PING"].map((c) => topic(c)),
  ];
}

/** An error no retry can cure: credentials, TLS or permissions. */
export class BusRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BusRefusedError";
  }
}

const CREDENTIAL_VARS = "NATS_USER/NATS_PASSWORD, NATS_NKEY_SEED or NATS_CREDS";

function refusal(err: NatsError & { code?: string }): string | undefined {
  const code = String(err.code ?? "");
  if (code === "AUTHORIZATION_VIOLATION" || code === "AUTHENTICATION_EXPIRED")
    return `the NATS server refused this node's credentials (${err.message}): check ${CREDENTIAL_VARS}`;
  if (code === "SERVER_OPT_NA" && /tls/i.test(err.message))
    return "the NATS server and this node disagree on TLS (one requires it, the other does not offer it): check NATS_TLS_CA and the server's tls block";
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code))
    return `TLS with the NATS server failed (${code}: ${err.message}): NATS_TLS_CA must be the CA that signed the server's certificate, and the host in TRANSPORTER one of its names`;
  return undefined;
}

/**
 * Connects once with the broker's own transporter options, subscribes to every subject the node
 * will use, and throws BusRefusedError on a refusal. The subscriptions matter because a refused
 * one is only an asynchronous error to the client: the node would join, announce its services,
 * and never receive the requests routed to it.
 */
export async function checkBus(broker: ServiceBroker): Promise<void> {
  const tx = (broker as unknown as { transit?: { tx?: unknown } }).transit?.tx;
  if (!(tx instanceof Transporters.NATS)) return;
  const opts = { ...(tx as unknown as { opts: ConnectionOptions & { url?: string } }).opts };
  // the URL is parsed as the transporter parses it
  const urls = String(opts.url ?? "nats://127.0.0.1:4222")
    .split(",")
    .map((u) => new URL(u));
  const options: ConnectionOptions = {
    ...opts,
    servers: urls.map((u) => u.host),
    user: opts.user ?? (urls[0].username ? decodeURIComponent(urls[0].username) : undefined),
    pass: opts.pass ?? (urls[0].password ? decodeURIComponent(urls[0].password) : undefined),
    name: `${broker.nodeID} (bus check)`,
    reconnect: false,
    maxReconnectAttempts: 0,
    timeout: 5000,
  };
  delete (options as { url?: string }).url;

  let nc;
  try {
    nc = await connect(options);
  } catch (e) {
    const why = refusal(e as NatsError);
    if (why) throw new BusRefusedError(`cannot join the bus: ${why}`);
    return;
  }
  try {
    const refused: string[] = [];
    for (const subject of nodeSubjects(tx, broker.nodeID))
      nc.subscribe(subject, { callback: (err) => err && refused.push(subject) });
    // the server answers a SUB before the PING of the flush, so every refusal has arrived
    await nc.flush();
    if (refused.length)
      throw new BusRefusedError(
        `cannot join the bus: the NATS server refused this node's subscription to ${refused.join(", ")}; ` +
          `the node id "${broker.nodeID}" must fit the permissions of its NATS user ` +
          '(AURA\'s nats/permissions.conf lets role R subscribe to MOL-<namespace>.*.R.>: NODE_ID must start with "R.")',
      );
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** Runs checkBus before the broker connects, so a refusal rejects broker.start(). */
export const busCheckMiddleware: Middleware = {
  name: "AuraBusCheck",
  async starting(broker: ServiceBroker) {
    await checkBus(broker);
  },
};
