// `aura keys …`: master-key operations for the exchange keys stored in user_api_keys.
//   rotate          re-seal every row under AURA_MASTER_KEY (old keys from AURA_MASTER_KEYS_OLD)
//   status          rows per master key id, and whether each id is configured
//   new-master-key  print a fresh random 32-byte key (base64)
import crypto from "node:crypto";
import type { Command } from "commander";

function lazy() {
  return {
    db: require("../../adapters/storage/database") as typeof import("../../adapters/storage/database"),
    keys: require("../../adapters/auth/api-keys") as typeof import("../../adapters/auth/api-keys"),
    aead: require("../../adapters/crypto/aead") as typeof import("../../adapters/crypto/aead"),
    secrets: require("../../runtime/secrets") as typeof import("../../runtime/secrets"),
  };
}

const warn = (m: string) => process.stderr.write(`aura: warning: ${m}\n`);

export function register(program: Command): void {
  const keys = program.command("keys").description("Master-key operations for stored exchange API keys");

  keys
    .command("rotate")
    .description(
      "Re-encrypt every stored exchange key under AURA_MASTER_KEY. Give the previous key(s) in AURA_MASTER_KEYS_OLD " +
        "(comma-separated base64) while rotating; afterwards they can be removed.",
    )
    .option("--all", "re-encrypt every row, also those already under the current key (fresh IVs)")
    .option(
      "--generate",
      "embedded installs only: generate a new master key into AURA_DATA_DIR/secrets.json and rotate to it",
    )
    .option("--batch-size <n>", "rows per transaction", "100")
    .action(async (opts: { all?: boolean; generate?: boolean; batchSize: string }) => {
      const { db, keys: store, aead, secrets } = lazy();
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1)
        throw new Error("--batch-size must be a positive integer");
      let s = secrets.resolveSecrets(undefined, { warn });
      let file: { path: string; content: ReturnType<typeof secrets.readSecretsFile> } | undefined;
      if (opts.generate) {
        if (s.source.master === "env") {
          throw new Error(
            "--generate works only with the generated secrets file; with AURA_MASTER_KEY set, put the new key in AURA_MASTER_KEY and the old one in AURA_MASTER_KEYS_OLD",
          );
        }
        const path = s.source.file!;
        const content = secrets.readSecretsFile(path);
        const next = {
          ...content,
          masterKey: crypto.randomBytes(32).toString("base64"),
          oldMasterKeys: [content.masterKey, ...(content.oldMasterKeys ?? [])],
        };
        // the old key stays in the file until every row has moved, so a crash loses nothing
        secrets.writeSecretsFile(path, next);
        secrets.resetSecretsCache();
        s = secrets.resolveSecrets(undefined, { warn });
        file = { path, content: next };
      }
      const ring = new aead.KeyRing(s.masterKey, s.oldMasterKeys);
      const database = await db.openDatabase({ migrate: false, log: () => {} });
      try {
        const report = await store.rotateApiKeys(database.sequelize, ring, { all: opts.all, batchSize });
        console.log(`current master key: ${report.currentKeyId}`);
        console.log(`re-encrypted: ${report.reencrypted} row(s)`);
        console.log(`rows per master key: ${JSON.stringify(report.byKeyId)}`);
        const leftover = Object.keys(report.byKeyId).filter((id) => id !== report.currentKeyId);
        if (report.failed.length) {
          for (const f of report.failed)
            console.error(`row ${f.id} (sealed with ${f.keyId}) could not be re-encrypted: ${f.error}`);
          console.error(
            "some rows are still under an old key: keep AURA_MASTER_KEYS_OLD until they are fixed or removed",
          );
          process.exitCode = 1;
          return;
        }
        if (leftover.length === 0) {
          if (file) {
            secrets.writeSecretsFile(file.path, { ...file.content, oldMasterKeys: [] });
            console.log(
              `every row is under the new key; the old key was removed from ${file.path}. Restart running AURA processes.`,
            );
          } else if (s.oldMasterKeys.length) {
            console.log(
              "every row is under the current key: AURA_MASTER_KEYS_OLD can now be removed (then restart the services).",
            );
          } else {
            console.log("every row is under the current key.");
          }
        }
      } finally {
        await database.close();
      }
    });

  keys
    .command("status")
    .description("Show how many stored exchange keys each master key sealed, and which keys are configured")
    .action(async () => {
      const { db, keys: store, aead, secrets } = lazy();
      const s = secrets.resolveSecrets(undefined, { warn });
      const ring = new aead.KeyRing(s.masterKey, s.oldMasterKeys);
      const database = await db.openDatabase({ migrate: false, log: () => {} });
      try {
        const counts = await store.countByKeyId(database.sequelize);
        const ids = new Set([...Object.keys(counts), ...ring.ids()]);
        for (const id of ids) {
          const role =
            id === ring.currentId
              ? "current"
              : ring.has(id)
                ? "old (configured)"
                : "NOT CONFIGURED: these rows cannot be decrypted";
          console.log(`${id}  ${String(counts[id] ?? 0).padStart(6)} row(s)  ${role}`);
        }
      } finally {
        await database.close();
      }
    });

  keys
    .command("new-master-key")
    .description("Print a new random master key (32 bytes, base64) for AURA_MASTER_KEY")
    .action(() => {
      console.log(crypto.randomBytes(32).toString("base64"));
    });
}
