/** A progress bar on stderr: redrawn in place on a terminal, a line every 10% in a log. */
const BAR_WIDTH = 30;
const REDRAW_INTERVAL_MS = 100;

export function progressBar(total: number, label: string, status: () => string) {
  const stream = process.stderr;
  const startedMs = performance.now();
  let done = 0;
  let lastDrawMs = 0;
  let lastDecile = -1;

  const line = () => {
    const share = total === 0 ? 1 : done / total;
    const filled = Math.round(share * BAR_WIDTH);
    const seconds = (performance.now() - startedMs) / 1000;
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    return `${label} [${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${done}/${total} ${Math.floor(share * 100)}% ${rate}/s ${status()}`;
  };

  return {
    tick() {
      done += 1;
      if (stream.isTTY) {
        const nowMs = performance.now();
        if (nowMs - lastDrawMs < REDRAW_INTERVAL_MS && done < total) return;
        lastDrawMs = nowMs;
        stream.write(`\r${line()}\x1b[K`);
      } else {
        const decile = Math.floor((done / total) * 10);
        if (decile === lastDecile) return;
        lastDecile = decile;
        stream.write(`${line()}\n`);
      }
    },
    finish() {
      if (stream.isTTY) stream.write(`\r${line()}\x1b[K\n`);
    },
  };
}
