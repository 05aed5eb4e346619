/**
 * `npm run settings -- keys`: API_KEYS edited by tenant and key id, never by
 * hand. Each edit parses the current value with the Worker's parser,
 * changes the one list it must, and parses the result again before anyone
 * prints or stores it. A key is minted here (as `npm run mint-key` does) and
 * exists only in the edit's result: shown once, stored nowhere.
 * No Node APIs: the tests run it in workerd.
 */
import { keyIdOf, KEY_ID_HEX_LENGTH } from "../../src/config/key-id.ts";
import { TENANT_ID_PATTERN } from "../../src/domain/limits.ts";
import { err, ok, type Result } from "../../src/lib/result.ts";
import { sha256Hex } from "../../src/lib/sha256.ts";
import { parseKeyTable } from "../../src/transport/api-keys.ts";

export type KeyEdit =
  /** A new key for a tenant (a new tenant, if it has none). */
  | { readonly kind: "add"; readonly tenant: string }
  /** A new key beside the one with this id, for the same tenant; both stay valid until the old one is revoked. */
  | { readonly kind: "rotate"; readonly keyId: string }
  /** The key with this id removed. */
  | { readonly kind: "revoke"; readonly keyId: string };

export interface MintedKey {
  readonly tenant: string;
  /** The key itself: shown once, stored nowhere. */
  readonly key: string;
  readonly digest: string;
  readonly keyId: string;
}

export interface KeyEditResult {
  /** The whole new API_KEYS value, compact JSON, checked with the Worker's parser. */
  readonly value: string;
  readonly minted: MintedKey | null;
  readonly revoked: { readonly tenant: string; readonly keyId: string } | null;
  /** Things the operator should know, one sentence each. */
  readonly notes: readonly string[];
}

/** Tenant to digests, in the value's order; a Map, so no tenant id is ever taken for a property of Object. */
type Table = Map<string, string[]>;

/** A new API key: `olk_` and 32 random bytes, base64url, like `npm run mint-key`. */
export function mintApiKey(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const bytes = random(new Uint8Array(32));
  const base64 = btoa(String.fromCharCode(...bytes));
  return `olk_${base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

/**
 * Applies `edit` to `current` (API_KEYS as it is now; undefined or blank
 * only for a first `add`), or says why not. `mint` makes the new key.
 */
export function editApiKeys(
  current: string | undefined,
  edit: KeyEdit,
  mint: () => string = () => mintApiKey(),
): Result<KeyEditResult, string> {
  const table = readTable(current, edit.kind === "add");
  if (!table.ok) return table;
  const tenants = table.value;
  const notes: string[] = [];
  let minted: MintedKey | null = null;
  let revoked: KeyEditResult["revoked"] = null;

  if (edit.kind === "add") {
    if (!TENANT_ID_PATTERN.test(edit.tenant)) {
      return err(`tenant ${JSON.stringify(edit.tenant)} is not a tenant id (1 to 64 of a-z, 0-9, _ and -)`);
    }
    if (!tenants.has(edit.tenant)) notes.push(`${edit.tenant} is a new tenant in API_KEYS.`);
    minted = mintFor(edit.tenant, mint);
    tenants.set(edit.tenant, [...(tenants.get(edit.tenant) ?? []), minted.digest]);
  } else {
    const found = findKey(tenants, edit.keyId);
    if (!found.ok) return found;
    const { tenant, digest } = found.value;
    const list = tenants.get(tenant) ?? [];
    if (edit.kind === "rotate") {
      minted = mintFor(tenant, mint);
      list.splice(list.indexOf(digest) + 1, 0, minted.digest);
      notes.push(
        `Both keys of ${tenant} are valid now. Move its callers to the new key, watch key id ${keyIdOf(digest)} fall to zero in the logs or metrics, then revoke it: npm run settings -- keys revoke ${keyIdOf(digest)} (with the same --file and --env)`,
      );
    } else {
      list.splice(list.indexOf(digest), 1);
      revoked = { tenant, keyId: keyIdOf(digest) };
      if (list.length === 0) {
        notes.push(
          `${tenant} has no key left: its API requests are refused, and the commands queue still accepts its commands.`,
        );
      }
    }
  }

  const value = JSON.stringify(Object.fromEntries(tenants));
  // The result must be one the Worker can use, or nothing is printed or stored.
  const checked = parseKeyTable(value);
  if (!checked.ok) return err(`the edited API_KEYS would be unusable (${checked.error}); nothing changed`);
  return ok({ value, minted, revoked, notes });
}

function readTable(current: string | undefined, mayBeEmpty: boolean): Result<Table, string> {
  if (current === undefined || current.trim() === "") {
    return mayBeEmpty ? ok(new Map()) : err("API_KEYS is not set: there is no key to rotate or revoke");
  }
  const parsed = parseKeyTable(current);
  if (!parsed.ok) return err(`the current API_KEYS is unusable (${parsed.error}); fix it before editing it`);
  // The Worker's parser accepted it: a JSON object of tenant to digest lists, no key twice.
  return ok(new Map(Object.entries(JSON.parse(current) as Record<string, string[]>)));
}

/** The one digest whose hex starts with `keyId` (at least a key id's length of hex). */
function findKey(tenants: Table, keyId: string): Result<{ tenant: string; digest: string }, string> {
  if (!new RegExp(`^[0-9a-f]{${KEY_ID_HEX_LENGTH},64}$`).test(keyId)) {
    return err(
      `${JSON.stringify(keyId)} is not a key id: the first ${KEY_ID_HEX_LENGTH} (or more) lower-case hex characters of a key's digest`,
    );
  }
  const matches: { tenant: string; digest: string }[] = [];
  for (const [tenant, digests] of tenants) {
    for (const digest of digests) if (digest.startsWith(keyId)) matches.push({ tenant, digest });
  }
  const [match] = matches;
  if (match === undefined) return err(`API_KEYS has no key with id ${keyId}`);
  if (matches.length > 1) {
    return err(`${matches.length} keys of API_KEYS have ids starting ${keyId}: give more of the digest`);
  }
  return ok(match);
}

function mintFor(tenant: string, mint: () => string): MintedKey {
  const key = mint();
  const digest = sha256Hex(key);
  return { tenant, key, digest, keyId: keyIdOf(digest) };
}

/**
 * The argv of `wrangler secret put API_KEYS` for an environment ("" is the
 * top level, production: Wrangler asks for `--env=""` there once a config
 * has environments).
 */
export function secretPutArgs(environment: string): string[] {
  return ["secret", "put", "API_KEYS", `--env=${environment}`];
}

/**
 * The shell line that does what the tool does: the value on wrangler's
 * standard input (how `wrangler secret put` reads it when not at a
 * terminal). Values here hold only JSON of tenant ids and hex, never a `'`.
 */
export function secretPutCommandLine(value: string, environment: string): string {
  if (value.includes("'")) throw new RangeError("the value cannot be single-quoted");
  const args = secretPutArgs(environment).map((arg) => (arg === "--env=" ? '--env=""' : arg));
  return `printf '%s' '${value}' | npx wrangler ${args.join(" ")}`;
}

export interface EditTarget {
  /** The Wrangler environment ("" for production). */
  readonly environment: string;
  /** The `.dev.vars`-form file the current value came from and the new one goes to, if any. */
  readonly file: string | null;
  readonly dryRun: boolean;
}

/**
 * What the tool prints about an edit: the new key, once, with its id and
 * digest; the notes; the whole new value; and the exact command that
 * stores it, run (`stored`) or, on a dry run, to be run.
 */
export function describeKeyEdit(result: KeyEditResult, target: EditTarget): string {
  const lines: string[] = [];
  const where = target.environment === "" ? "production" : `env.${target.environment}`;
  if (result.minted !== null) {
    const { tenant, key, digest, keyId } = result.minted;
    lines.push(
      `New API key for tenant "${tenant}" (shown once: give it to the tenant, store it nowhere else):`,
      "",
      `  ${key}`,
      "",
      `key id ${keyId}, SHA-256 digest ${digest}`,
    );
  }
  if (result.revoked !== null)
    lines.push(`Revoked key id ${result.revoked.keyId} of tenant "${result.revoked.tenant}".`);
  lines.push(...result.notes, "", "The new API_KEYS (checked with the Worker's parser):", "", `  ${result.value}`, "");
  const command = secretPutCommandLine(result.value, target.environment);
  if (target.dryRun) {
    lines.push(
      `Dry run: nothing stored. To store it in ${where}, this would run:`,
      "",
      `  ${command}`,
      "",
      target.file === null
        ? "and keep the new value above as your copy of API_KEYS."
        : `and write the new value to the API_KEYS line of ${target.file}.`,
      result.minted === null ? "" : "The key above is valid only once the new value is stored.",
    );
  } else {
    lines.push(
      `Stored in ${where} with:`,
      "",
      `  ${command}`,
      "",
      target.file === null
        ? "Keep the new value above as your copy of API_KEYS: a secret cannot be read back."
        : `${target.file} holds the new value.`,
    );
  }
  return `${lines.join("\n").trimEnd()}\n`;
}
