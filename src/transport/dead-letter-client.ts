/**
 * The way to the dead-letter store (src/dead-letters/): one object, in the
 * global namespace, for every tenant. The queue consumer writes to it; the
 * operator routes read and replay through it.
 */

/** The store's one object. */
export const DEAD_LETTER_STORE_NAME = "dead-letters";

export function deadLetterStore(env: Pick<Env, "DEAD_LETTER_STORE">) {
  return env.DEAD_LETTER_STORE.getByName(DEAD_LETTER_STORE_NAME);
}
