// How a process authenticates to the NATS bus and encrypts its traffic (docs/security.md "The bus").
// Every file named here is checked when the configuration is read, so a typo in a mounted secret's
// path stops the process at start instead of surfacing as a connection that never comes up. Only
// paths are kept: key material is read again by the bus adapter when it connects, so the
// configuration object never holds a seed or a private key that a debug dump could print.
import fs from "node:fs";
import path from "node:path";
import { nodeEnvOf } from "./env";
import { EnvReader, type VariableName } from "./readers";

export type BusAuth =
  | { kind: "none" }
  /** user and password inside the TRANSPORTER URL */
  | { kind: "url"; user: string }
  | { kind: "password"; user: string; password: string }
  | { kind: "nkey"; seedFile: string }
  | { kind: "creds"; credsFile: string };

export interface BusTls {
  /** the CA that signed the server's certificate; the server's is verified against it alone */
  caFile: string;
  /** client certificate and key, for a server that verifies clients (`verify: true`) */
  certFile?: string;
  keyFile?: string;
}

export interface TransportConfig {
  /** undefined: plain TCP (refused in production unless allowInsecure) */
  tls: BusTls | undefined;
  auth: BusAuth;
  allowInsecure: boolean;
  /**
   * The first token of this node's id, so the server can scope each role's subscriptions to its
   * own nodes (`MOL-<ns>.*.<role>.>`); the NATS user name when there is one.
   */
  role: string | undefined;
}

type FileShape = "certificate" | "private key" | "user seed" | "creds";

/** What a file of each kind must contain; checked without ever quoting the content. */
const SHAPES: Record<FileShape, (text: string) => boolean> = {
  certificate: (t) => t.includes("-----BEGIN CERTIFICATE-----"),
  "private key": (t) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(t),
  // a user seed is "SU" and 56 base32 characters; an account or operator seed would be refused
  // by the server with a message that does not say why
  "user seed": (t) => /^SU[A-Z2-7]{56}$/.test(t.trim()),
  creds: (t) => t.includes("-----BEGIN NATS USER JWT-----") && t.includes("-----BEGIN USER NKEY SEED-----"),
};

/** The absolute path of a readable file holding `shape`, or undefined after recording why not. */
function fileOf(r: EnvReader, name: VariableName, shape: FileShape): string | undefined {
  const raw = r.raw(name);
  if (raw === undefined) return undefined;
  const file = path.resolve(raw.trim());
  let text: string;
  try {
    if (!fs.statSync(file).isFile()) {
      r.problem(name, `${name} must name a readable file, got "${file}" (not a file)`);
      return undefined;
    }
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "unreadable";
    r.problem(name, `${name} must name a readable file, got "${file}" (${code})`);
    return undefined;
  }
  if (!SHAPES[shape](text)) {
    r.problem(name, `${name} must name a file holding a ${shape}, got "${file}" (it does not)`);
    return undefined;
  }
  return file;
}

/** A subject token: the role becomes part of this node's NATS subjects. */
const ROLE = /^[A-Za-z0-9_-]+$/;

export function transportConfig(env: NodeJS.ProcessEnv = process.env): TransportConfig {
  const r = new EnvReader(env);
  const production = nodeEnvOf(r) === "production";
  // every variable is read whether or not it applies, so a stray one is reported, not ignored
  const transporter = r.raw("TRANSPORTER");
  const caFile = fileOf(r, "NATS_TLS_CA", "certificate");
  const certFile = fileOf(r, "NATS_TLS_CERT", "certificate");
  const keyFile = fileOf(r, "NATS_TLS_KEY", "private key");
  const user = r.string("NATS_USER", {
    default: undefined,
    pattern: ROLE,
    accepts: "a NATS user name of letters, digits, - and _ (it is also the first token of the node id)",
  });
  const password = r.raw("NATS_PASSWORD");
  const seedFile = fileOf(r, "NATS_NKEY_SEED", "user seed");
  const credsFile = fileOf(r, "NATS_CREDS", "creds");
  const allowInsecure = r.bool("NATS_ALLOW_INSECURE", false);

  let urlUser: string | undefined;
  try {
    const u = transporter ? new URL(transporter.trim()) : undefined;
    urlUser = u?.username ? decodeURIComponent(u.username) : undefined;
  } catch {
    // readEnv reports a malformed TRANSPORTER
  }

  const given = (name: VariableName) => r.raw(name) !== undefined;
  const natsVars: VariableName[] = [
    "NATS_TLS_CA",
    "NATS_TLS_CERT",
    "NATS_TLS_KEY",
    "NATS_USER",
    "NATS_PASSWORD",
    "NATS_NKEY_SEED",
    "NATS_CREDS",
  ];
  if (!transporter)
    for (const name of natsVars.filter(given))
      r.problem(name, `${name} is set but TRANSPORTER is not: a single process has no bus to secure`);

  if (given("NATS_TLS_CERT") !== given("NATS_TLS_KEY"))
    r.problem(
      given("NATS_TLS_CERT") ? "NATS_TLS_KEY" : "NATS_TLS_CERT",
      "NATS_TLS_CERT and NATS_TLS_KEY go together (the client certificate and its key)",
    );
  if ((given("NATS_TLS_CERT") || given("NATS_TLS_KEY")) && !given("NATS_TLS_CA"))
    r.problem(
      "NATS_TLS_CA",
      "NATS_TLS_CERT/NATS_TLS_KEY need NATS_TLS_CA (the CA of the server's certificate)",
    );
  if (given("NATS_USER") !== given("NATS_PASSWORD"))
    r.problem(given("NATS_USER") ? "NATS_PASSWORD" : "NATS_USER", "NATS_USER and NATS_PASSWORD go together");

  const kinds = [
    urlUser !== undefined && "a user in TRANSPORTER",
    (given("NATS_USER") || given("NATS_PASSWORD")) && "NATS_USER/NATS_PASSWORD",
    given("NATS_NKEY_SEED") && "NATS_NKEY_SEED",
    given("NATS_CREDS") && "NATS_CREDS",
  ].filter((k): k is string => Boolean(k));
  if (kinds.length > 1)
    r.problem(
      given("NATS_CREDS") ? "NATS_CREDS" : given("NATS_NKEY_SEED") ? "NATS_NKEY_SEED" : "NATS_USER",
      `NATS credentials must come from one place, got ${kinds.join(" and ")}`,
    );

  const auth: BusAuth =
    user !== undefined && password !== undefined
      ? { kind: "password", user, password }
      : seedFile !== undefined
        ? { kind: "nkey", seedFile }
        : credsFile !== undefined
          ? { kind: "creds", credsFile }
          : urlUser !== undefined
            ? { kind: "url", user: urlUser }
            : { kind: "none" };
  const tls = caFile !== undefined ? { caFile, certFile, keyFile } : undefined;

  if (production && transporter && !allowInsecure) {
    // the bus carries every user's identity and every order command; only an encrypted,
    // authenticated link keeps a stranger from reading or injecting them
    const override =
      "or NATS_ALLOW_INSECURE=true when something else already encrypts and authenticates the link";
    if (!given("NATS_TLS_CA"))
      r.problem(
        "NATS_TLS_CA",
        `NODE_ENV=production with a NATS TRANSPORTER requires TLS: set NATS_TLS_CA to the CA of the server's certificate (${override})`,
      );
    if (kinds.length === 0)
      r.problem(
        "TRANSPORTER",
        `NODE_ENV=production with a NATS TRANSPORTER requires credentials: NATS_USER and NATS_PASSWORD, NATS_NKEY_SEED or NATS_CREDS (${override})`,
      );
  }

  const role = user ?? (urlUser !== undefined && ROLE.test(urlUser) ? urlUser : undefined);
  return r.done({ tls, auth, allowInsecure, role });
}
