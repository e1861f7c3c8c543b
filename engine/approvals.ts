/**
 * Approvals: an agent session's request to use a tool (its CLI's permission prompt, raised by a
 * hook), put to the people on the bus instead of only to the terminal it runs in. A person allows
 * or denies it from the web UI or the CLI; the hook waits for the answer, and without one in time
 * the agent CLI asks in its terminal as it would have.
 *
 * Requests live in the engine's memory: they matter only while a hook waits for them, and a hook
 * whose engine restarts gets no answer and falls back to the terminal.
 */
import { CrosstalkError } from "../schema/errors.ts";

/** What a hook asks. */
export interface ApprovalRequest {
  /** The agent CLI (claude). */
  agent: string;
  /** The live agent's name, when the hook knows it. */
  name?: string;
  tool: string;
  /** The tool's input, as the agent CLI gave it (shown to people, never run). */
  input: unknown;
  cwd?: string;
  /** The agent CLI's session id. */
  session?: string;
  /** Who raised it: the token's identity. */
  by: string;
  /**
   * How long the asker waits for a decision, in seconds: the request expires then (and at the
   * store's ttl at the latest), so that nobody decides what no one waits for any more.
   */
  waitSeconds?: number;
}

/** A request and what became of it. */
export interface Approval extends ApprovalRequest {
  id: string;
  state: "pending" | "allowed" | "denied" | "expired";
  at: string;
  /** When a pending request expires. */
  expires: string;
  decidedBy?: string;
  decidedAt?: string;
  reason?: string;
}

/** Options for {@linkcode ApprovalStore}. */
export interface ApprovalStoreOptions {
  /** Told of every new request and decision (the event stream). */
  onChange?: (approval: Approval) => void;
  /** How long a request waits for a decision before it expires; default 10 minutes. */
  ttlMs?: number;
}

const MAX_PENDING = 1_000;
const MAX_INPUT_CHARS = 16 * 1024;

/** The engine's approval requests. */
export class ApprovalStore {
  #approvals = new Map<string, Approval>();
  #waiters = new Map<string, Set<() => void>>();
  #onChange: (approval: Approval) => void;
  #ttlMs: number;

  constructor(options: ApprovalStoreOptions = {}) {
    this.#onChange = options.onChange ?? (() => {});
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
  }

  /**
   * Records a request.
   *
   * @throws {CrosstalkError} `ERR_BODY_INVALID` (a tool input too large to show),
   *   `ERR_RATE_LIMITED` (too many pending)
   */
  request(request: ApprovalRequest): Approval {
    this.#expire();
    if (JSON.stringify(request.input ?? null).length > MAX_INPUT_CHARS) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `The tool input is over ${MAX_INPUT_CHARS} characters`,
      );
    }
    if (this.list("pending").length >= MAX_PENDING) {
      throw new CrosstalkError("ERR_RATE_LIMITED", `${MAX_PENDING} approvals are waiting already`);
    }
    const now = Date.now();
    const { waitSeconds, ...asked } = request;
    const waitMs = waitSeconds === undefined
      ? this.#ttlMs
      : Math.min(this.#ttlMs, waitSeconds * 1000);
    const approval: Approval = {
      ...asked,
      id: crypto.randomUUID(),
      state: "pending",
      at: new Date(now).toISOString(),
      expires: new Date(now + waitMs).toISOString(),
    };
    this.#approvals.set(approval.id, approval);
    this.#onChange({ ...approval });
    return { ...approval };
  }

  /** One request. @throws {CrosstalkError} `ERR_ROUTE_NOT_FOUND` */
  get(id: string): Approval {
    this.#expire();
    const approval = this.#approvals.get(id);
    if (!approval) throw new CrosstalkError("ERR_ROUTE_NOT_FOUND", `No approval "${id}"`);
    return { ...approval };
  }

  /** Requests, oldest first: pending ones, or all that are remembered. */
  list(state: "pending" | "all" = "pending"): Approval[] {
    this.#expire();
    return [...this.#approvals.values()]
      .filter((a) => state === "all" || a.state === "pending")
      .map((a) => ({ ...a }));
  }

  /**
   * Allows or denies a pending request. Deciding it again the same way is a no-op.
   *
   * @throws {CrosstalkError} `ERR_ROUTE_NOT_FOUND`, `ERR_TASK_CONFLICT` (decided otherwise, or
   *   expired)
   */
  decide(id: string, decision: { allow: boolean; by: string; reason?: string }): Approval {
    const approval = this.#approvals.get(id);
    if (!approval) throw new CrosstalkError("ERR_ROUTE_NOT_FOUND", `No approval "${id}"`);
    this.#expire();
    const state = decision.allow ? "allowed" : "denied";
    if (approval.state === state) return { ...approval };
    if (approval.state !== "pending") {
      throw new CrosstalkError(
        "ERR_TASK_CONFLICT",
        `This approval is ${approval.state}${
          approval.decidedBy ? ` by ${approval.decidedBy}` : ""
        }`,
      );
    }
    approval.state = state;
    approval.decidedBy = decision.by;
    approval.decidedAt = new Date().toISOString();
    if (decision.reason) approval.reason = decision.reason;
    this.#onChange({ ...approval });
    for (const wake of this.#waiters.get(id) ?? []) wake();
    return { ...approval };
  }

  /** Waits until the request is decided (or expires), at most `ms`; returns it as it is then. */
  async wait(id: string, ms: number, signal?: AbortSignal): Promise<Approval> {
    const now = this.get(id);
    if (now.state !== "pending" || ms <= 0) return now;
    const { promise, resolve } = Promise.withResolvers<void>();
    const waiters = this.#waiters.get(id) ?? new Set();
    waiters.add(resolve);
    this.#waiters.set(id, waiters);
    // Woken by a decision, or at the wait's end, or when the request expires, whichever is first.
    const expiresIn = Date.parse(now.expires) - Date.now() + 1;
    const timer = setTimeout(resolve, Math.max(0, Math.min(ms, expiresIn)));
    signal?.addEventListener("abort", () => resolve(), { once: true });
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      waiters.delete(resolve);
      if (waiters.size === 0) this.#waiters.delete(id);
    }
    return this.get(id);
  }

  /** Marks requests past their time expired, and forgets them an hour after that. */
  #expire(): void {
    const now = Date.now();
    for (const [id, approval] of this.#approvals) {
      const age = now - Date.parse(approval.expires);
      if (approval.state === "pending" && age > 0) {
        approval.state = "expired";
        this.#onChange({ ...approval });
        for (const wake of this.#waiters.get(id) ?? []) wake();
      } else if (approval.state !== "pending" && age > 3_600_000) {
        this.#approvals.delete(id);
      }
    }
  }
}
