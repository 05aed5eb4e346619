import { MAX_MESSAGES_PER_SEND, MAX_SEND_BATCH_BYTES } from "../domain/limits.ts";
import { utf8Length } from "../lib/text.ts";

/**
 * Sends messages (JSON, or text as it is) in as few sends as the platform's limits allow, and
 * says which were sent: `onSent` and `onFailed` get each chunk's items, so a
 * caller acknowledges only what reached the queue and retries the rest.
 */
export async function sendInChunks<T>(
  queue: Queue,
  items: readonly T[],
  bodyOf: (item: T) => unknown,
  onSent: (item: T) => void,
  onFailed: (item: T, error: unknown) => void,
  options: { readonly contentType: "json" | "text"; readonly delaySeconds?: number } = { contentType: "json" },
): Promise<void> {
  let chunk: { item: T; body: unknown }[] = [];
  let chunkBytes = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    const sending = chunk;
    chunk = [];
    chunkBytes = 0;
    try {
      await queue.sendBatch(sending.map(({ body }) => ({ body, ...options })));
      for (const { item } of sending) onSent(item);
    } catch (error) {
      for (const { item } of sending) onFailed(item, error);
    }
  };
  for (const item of items) {
    const body = bodyOf(item);
    // Text goes as it is; JSON as its serialisation.
    const bytes = utf8Length(options.contentType === "text" ? String(body) : JSON.stringify(body));
    if (chunk.length === MAX_MESSAGES_PER_SEND || (chunk.length > 0 && chunkBytes + bytes > MAX_SEND_BATCH_BYTES)) {
      await flush();
    }
    chunk.push({ item, body });
    chunkBytes += bytes;
  }
  await flush();
}
