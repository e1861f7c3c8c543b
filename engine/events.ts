/**
 * `EventHub`: the engine's bus events (message written, claimed, replied, failed, engine
 * status) for live subscribers such as the SSE stream, with ids so that a client that reconnects
 * with the last id it saw misses nothing the hub still remembers.
 */
import type { LogRecord, LogSink } from "./log.ts";

/** One bus event. */
export interface BusEvent {
  /** `<boot>-<sequence>`: ordered within one engine process. */
  id: string;
  type:
    | "message"
    | "claimed"
    | "running"
    | "replied"
    | "failed"
    | "empty"
    | "skipped"
    | "engine"
    | "live"
    | "woken"
    | "unwoken"
    | "read"
    | "task"
    | "badge"
    | "workflow"
    | "approval"
    | "log";
  data: Record<string, unknown>;
}

const TYPE_BY_LOG_EVENT: Record<string, BusEvent["type"]> = {
  "message.new": "message",
  "claim.won": "claimed",
  "claim.takeover": "claimed",
  "run.spawned": "running",
  "run.replied": "replied",
  "run.failed": "failed",
  "run.empty": "empty",
  "run.skipped": "skipped",
  "engine.ready": "engine",
  "engine.stopping": "engine",
  "config.reloaded": "engine",
  "live.online": "live",
  "live.offline": "live",
  "live.status": "live",
  "live.woken": "woken",
  "live.unwoken": "unwoken",
  "live.gated": "unwoken",
  "live.read": "read",
  "workflow.started": "workflow",
  "workflow.planned": "workflow",
  "workflow.phase": "workflow",
  "workflow.complete": "workflow",
  "workflow.failed": "workflow",
  "task.synced": "task",
  "badge.synced": "badge",
};

/** Remembers the last `capacity` events and hands new ones to subscribers. */
export class EventHub implements LogSink {
  readonly boot = crypto.randomUUID().slice(0, 8);
  #seq = 0;
  #buffer: BusEvent[] = [];
  #capacity: number;
  #subscribers = new Set<(event: BusEvent) => void>();
  #closers = new Set<() => void>();
  #closed = false;
  #every: boolean;

  /**
   * `records: "all"` makes a hub of every log record (type `log`, the record as it is) instead of
   * the bus events among them.
   */
  constructor(capacity = 10_000, options: { records?: "bus" | "all" } = {}) {
    this.#capacity = capacity;
    this.#every = options.records === "all";
  }

  /** Takes the engine's log records and keeps those that are bus events (or all of them). */
  write(record: LogRecord): void {
    if (this.#every) {
      this.publish("log", { ...record });
      return;
    }
    const type = TYPE_BY_LOG_EVENT[record.event];
    if (!type) return;
    const { ts: _ts, level: _level, ...data } = record;
    this.publish(type, { ...data, at: record.ts });
  }

  /** The id of the newest event, or of none yet (`<boot>-0`): what a subscriber has seen now. */
  get lastId(): string {
    return this.#buffer.at(-1)?.id ?? `${this.boot}-0`;
  }

  /** Publishes an event. */
  publish(type: BusEvent["type"], data: Record<string, unknown>): BusEvent {
    const event: BusEvent = { id: `${this.boot}-${++this.#seq}`, type, data };
    this.#buffer.push(event);
    // Trimmed a slack's worth at a time: cutting one event off the front of 10,000 at every
    // publish moved the whole array each time. At least the last `capacity` stay.
    if (this.#buffer.length > this.#capacity + Math.ceil(this.#capacity / 8)) {
      this.#buffer.splice(0, this.#buffer.length - this.#capacity);
    }
    for (const subscriber of this.#subscribers) subscriber(event);
    return event;
  }

  /**
   * The events after `lastId` still remembered (all of them when `lastId` is from another
   * process or unknown), then every new one until `signal` aborts.
   */
  async *subscribe(lastId: string | undefined, signal: AbortSignal): AsyncGenerator<BusEvent> {
    const queue: BusEvent[] = [];
    let wake: (() => void) | undefined;
    const subscriber = (event: BusEvent) => {
      queue.push(event);
      wake?.();
    };
    this.#subscribers.add(subscriber);
    const onAbort = () => wake?.();
    signal.addEventListener("abort", onAbort);
    this.#closers.add(onAbort);
    try {
      if (lastId !== undefined) {
        const [boot, seq] = lastId.split("-");
        const after = boot === this.boot ? Number(seq) : 0;
        // A copy, taken as the subscription begins: what is published from then on goes to the
        // queue (newer than all of these), and a trim of the buffer must not shift the events
        // still to be replayed.
        const kept = this.#buffer.slice();
        for (const event of kept) if (Number(event.id.split("-")[1]) > after) yield event;
      }
      while (!signal.aborted && !this.#closed) {
        if (queue.length === 0) {
          const { promise, resolve } = Promise.withResolvers<void>();
          wake = resolve;
          await promise;
          wake = undefined;
          continue;
        }
        yield queue.shift()!;
      }
    } finally {
      this.#subscribers.delete(subscriber);
      this.#closers.delete(onAbort);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Ends every subscription (the engine is stopping), so that the server can close. */
  close(): void {
    this.#closed = true;
    for (const close of this.#closers) close();
  }

  /** How many clients listen now. */
  get subscribers(): number {
    return this.#subscribers.size;
  }
}
