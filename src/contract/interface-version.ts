import type { MoneyCommand, MoneyInputs, MoneyOperation } from "../domain/commands.ts";

/**
 * The Worker-to-object interface. A deploy rolls out gradually, so for a
 * while a new Worker calls old objects and an old Worker calls new ones.
 * The rules that keep both directions working for one release:
 *
 * - A release only adds optional request fields and optional answer facts;
 *   it never removes, renames or changes the meaning of one. Each side
 *   ignores fields it does not know.
 * - Each request names the version its sender speaks. An object accepts
 *   every version from OLDEST_OBJECT_INTERFACE_VERSION to one past its own
 *   (a newer Worker whose additions it ignores); anything newer is a Worker
 *   two releases ahead, anything older one that cannot carry what the
 *   object needs, and the object refuses both, loudly, rather than
 *   half-understands.
 * - A field may be dropped only two releases after it stopped being read.
 *
 * Version 1 carried no version and no origin, and named a command's entry
 * type `kind`; version 2 adds the version and the origin, and names it
 * `type`. A version-2 Worker sends both names, so version-1 objects
 * understand it; `kind` may go once no version-1 object can be running.
 * Version-1 Workers are refused: without an origin a record could not be
 * told from one written by code below the rollback floor (schema.ts), and
 * they know nothing of If-Match or a PUT's key.
 */
export const OBJECT_INTERFACE_VERSION = 2;
/** The oldest version an object serves: the previous release's. */
export const OLDEST_OBJECT_INTERFACE_VERSION = 2;

/** A money command as version 1 sent it. */
export type LegacyMoneyCommand = {
  [T in MoneyOperation]: { readonly kind: T; readonly input: MoneyInputs[T] };
}[MoneyOperation];

/** A command as this version sends it: readable by version-1 objects too. */
export type WireMoneyCommand = MoneyCommand & { readonly kind: MoneyCommand["type"] };

export function toWire(command: MoneyCommand): WireMoneyCommand {
  return { ...command, kind: command.type };
}

/** The command in this version's terms, whichever version sent it. */
export function fromWire(command: MoneyCommand | LegacyMoneyCommand): MoneyCommand {
  if ("type" in command) return command;
  return { type: command.kind, input: command.input } as MoneyCommand;
}

/** Why this code cannot serve a request of `version`, or null if it can. */
export function unsupportedInterface(version: number | undefined): string | null {
  const spoken = version ?? 1;
  if (!Number.isSafeInteger(spoken) || spoken < 1) return `interface version ${String(version)} is not one`;
  if (spoken < OLDEST_OBJECT_INTERFACE_VERSION) {
    return `interface version ${spoken} is older than the oldest this object serves, ${OLDEST_OBJECT_INTERFACE_VERSION}`;
  }
  if (spoken > OBJECT_INTERFACE_VERSION + 1) {
    return `interface version ${spoken} is more than one release ahead of this object's ${OBJECT_INTERFACE_VERSION}`;
  }
  return null;
}
