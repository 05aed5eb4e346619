/** An item waiting for a group: its decider answers it; a group that cannot be prepared refuses it here. */
export interface Waiting {
  readonly reject: (reason: unknown) => void;
}

/**
 * Group commit. Writes that reach the object while it is busy wait here and
 * are decided together, in order, in one storage transaction, so N
 * concurrent writes pay one durable commit instead of N. Each write is
 * decided in its own savepoint by the caller's `decideGroup`, so one that
 * fails leaves the others' outcomes standing; `decideGroup` answers each
 * item itself, so each is answered with its own type.
 *
 * The flush runs on a timer, not a microtask: a microtask would run at the
 * end of the event that submitted the write, before the runtime delivers the
 * next request, and every group would be one write. A timer fires after the
 * runtime has taken in the requests that arrived meanwhile. No answer leaves
 * the object before its commit is durable: the runtime's output gate holds it.
 */
export class GroupCommit<T extends Waiting> {
  private readonly pending: T[] = [];
  private scheduled = false;
  private readonly prepare: () => Promise<void>;
  private readonly decideGroup: (items: readonly T[]) => void;
  private readonly weight: (item: T) => number;
  private readonly maxGroupWeight: number;

  /**
   * `prepare` runs before each group (e.g. reads what the group will need
   * asynchronously); `decideGroup` then decides its items in order,
   * synchronously, and answers every one of them. A group takes items until
   * their weight reaches `maxGroupWeight` (at least one item), bounding the
   * work done in one transaction.
   */
  constructor(options: {
    prepare: () => Promise<void>;
    decideGroup: (items: readonly T[]) => void;
    weight: (item: T) => number;
    maxGroupWeight: number;
  }) {
    this.prepare = options.prepare;
    this.decideGroup = options.decideGroup;
    this.weight = options.weight;
    this.maxGroupWeight = options.maxGroupWeight;
  }

  /** Queues an item for the next group; it is answered through itself. */
  submit(item: T): void {
    this.pending.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      void this.flush();
    }, 0);
  }

  /** One flush at a time, so groups are decided in the order their writes arrived. */
  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        try {
          await this.prepare();
        } catch (error) {
          for (const waiting of this.pending.splice(0)) waiting.reject(error);
          return;
        }
        this.decideNextGroup();
      }
    } finally {
      this.scheduled = false;
    }
  }

  private decideNextGroup(): void {
    let weight = 0;
    let size = 0;
    while (size === 0 || weight < this.maxGroupWeight) {
      const item = this.pending[size];
      if (item === undefined) break;
      weight += this.weight(item);
      size += 1;
    }
    const group = this.pending.splice(0, size);
    try {
      this.decideGroup(group);
    } catch (error) {
      // None is left waiting: an item already answered keeps its answer.
      for (const waiting of group) waiting.reject(error);
    }
  }
}
