// What every route gets: the engine's parts, the caller's identity, and body helpers.
import type { Context } from "hono";
import type { ApprovalStore } from "../engine/approvals.ts";
import type { AuthStore, Identity } from "../engine/auth.ts";
import type { Bus } from "../engine/bus.ts";
import type { EventHub } from "../engine/events.ts";
import type { Engine } from "../engine/engine.ts";
import type { IdempotencyStore } from "../engine/idempotency.ts";
import type { Logger } from "../engine/log.ts";
import type { EngineReport } from "../engine/status.ts";
import { CrosstalkError } from "../schema/errors.ts";

/** What the HTTP API runs on. */
export interface AppDeps {
  bus: Bus;
  auth: AuthStore;
  version: string;
  /** The engine's status, when an engine runs behind this API. */
  report?: () => Promise<EngineReport>;
  /** A one-time token that lets `/setup` create the first admin, while no user exists. */
  setupToken?: { value: string | undefined };
  /** Called once `/setup` has created the first admin (the engine leaves the local CLI's credential). */
  onAdminCreated?: (username: string) => Promise<void>;
  /** Where retried sends find their first message (in memory when absent). */
  idempotency?: IdempotencyStore;
  /** The engine's environment (for finding agent CLIs on its PATH). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The engine's pending tool-use approvals (one in memory when absent). */
  approvals?: ApprovalStore;
  /** The engine's live bus events, for `/api/events`. */
  events?: EventHub;
  /** Every record of the engine's log as it is written, for `/api/logs/stream`. */
  logStream?: EventHub;
  /** The engine's last log records, for `/api/logs`. */
  logs?: (lines: number) => Promise<unknown[]>;
  /**
   * Checks a nudge from another engine of the transport (a JWT signed with that engine's key)
   * and makes this engine fetch now; returns the sender's alias.
   */
  nudge?: (token: string) => Promise<string>;
  /** The engine's live agents, peers, tasks and badges. */
  live?: LiveDeps;
  /** Aborted when the engine stops: long-polls end at once instead of holding the shutdown. */
  shutdown?: AbortSignal;
  /** The engine's log, for what the API does that is worth a record. */
  log?: Logger;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** How often a long-lived stream (GET /api/events) checks its credential again; default 10 s. */
  recheckMs?: number;
}

/** What the live agent, task and badge routes use of the engine. */
export type LiveDeps = Pick<
  Engine,
  | "live"
  | "registerLive"
  | "peers"
  | "annotations"
  | "tmuxAgents"
  | "unknownAddressees"
  | "taskActor"
>;

/** Hono's variables for this app. */
export type Env = {
  Variables: {
    identity: Identity;
    /**
     * Checks the request's credential again (revoked, expired, its user deleted, its live
     * session ended): for what outlives the request's start, such as an event stream.
     */
    recheck: () => Promise<void>;
  };
};

/** The caller, set by the auth middleware. */
export function identityOf(c: Context<Env>): Identity {
  return c.get("identity");
}

/**
 * The name a request acts as: `from` when it gives one, else the caller's own. A token acts as its
 * own name only; an admin's may act as anyone (`verb` says what it does: "sends", "acts").
 *
 * @throws {CrosstalkError} `ERR_FORBIDDEN`
 */
export function actingAs(identity: Identity, from: string | undefined, verb = "acts"): string {
  if (from === undefined || from === identity.subject) return identity.subject;
  if (!identity.admin) {
    throw new CrosstalkError(
      "ERR_FORBIDDEN",
      `This token ${verb} as "${identity.subject}", not as "${from}"`,
    );
  }
  return from;
}

/**
 * Refuses unless the caller is a user (not a live agent's or a dispatched CLI's token, whose
 * subject is an agent's name, never a user to act for).
 *
 * @throws {CrosstalkError} `ERR_FORBIDDEN`
 */
export function requireUser(c: Context<Env>, what: string): Identity {
  const identity = identityOf(c);
  if (identity.kind !== "user") {
    throw new CrosstalkError(
      "ERR_FORBIDDEN",
      `Only a user's token may ${what} (this one is a ${identity.kind} agent's)`,
    );
  }
  return identity;
}

/**
 * A query parameter that is a number: `fallback` when absent; values above `max` count as `max`
 * (a page size or a wait asked too large gets the largest there is); anything but plain digits
 * (with a fraction when `fraction`) or below `min` is refused.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID`
 */
export function numberQuery(
  c: Context<Env>,
  name: string,
  options: { min: number; max: number; fallback: number; fraction?: boolean; unit?: string },
): number {
  const raw = c.req.query(name);
  if (raw === undefined) return options.fallback;
  const pattern = options.fraction ? /^\d{1,9}(\.\d{1,6})?$/ : /^\d{1,9}$/;
  const value = Number(raw);
  if (!pattern.test(raw) || value < options.min) {
    throw new CrosstalkError(
      "ERR_BODY_INVALID",
      `${name} must be ${options.fraction ? "a number" : "a whole number"} of ${
        options.unit ?? "items"
      } from ${options.min} to ${options.max}, not ${JSON.stringify(raw.slice(0, 40))}`,
    );
  }
  return Math.min(value, options.max);
}

/** Refuses unless the caller is an admin. @throws {CrosstalkError} `ERR_FORBIDDEN` */
export function requireAdmin(c: Context<Env>): Identity {
  const identity = identityOf(c);
  if (!identity.admin) throw new CrosstalkError("ERR_FORBIDDEN", "Only an admin may do this");
  return identity;
}

/**
 * Reads a JSON object body.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID` when it is not a JSON object
 */
export async function jsonBody(c: Context<Env>): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = await c.req.json();
  } catch {
    throw new CrosstalkError("ERR_BODY_INVALID", "The request body must be a JSON object");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new CrosstalkError("ERR_BODY_INVALID", "The request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * Reads a JSON object body that may be left out: no body (or an empty one) is `{}`.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID` when there is one and it is not a JSON object
 */
export async function optionalJsonBody(c: Context<Env>): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CrosstalkError("ERR_BODY_INVALID", "The request body must be a JSON object");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new CrosstalkError("ERR_BODY_INVALID", "The request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * Checks a body's fields against a simple shape: name → "string" | "string?" | "boolean?" |
 * "string[]?" | "number?" | "any" (any JSON value, present); a type ending in `|null` (before the
 * `?`) also takes `null`.
 */
export function checkShape(body: Record<string, unknown>, shape: Record<string, string>): void {
  for (const key of Object.keys(body)) {
    if (!Object.hasOwn(shape, key)) {
      throw new CrosstalkError("ERR_BODY_INVALID", `Unknown field "${key}" in the request body`);
    }
  }
  for (const [key, type] of Object.entries(shape)) {
    const optional = type.endsWith("?");
    const wanted = optional ? type.slice(0, -1) : type;
    const nullable = wanted.endsWith("|null");
    const base = nullable ? wanted.slice(0, -"|null".length) : wanted;
    const value = body[key];
    if (value === undefined) {
      if (!optional) {
        throw new CrosstalkError("ERR_BODY_INVALID", `The request body needs "${key}"`);
      }
      continue;
    }
    if (value === null && nullable) continue;
    const ok = base === "any"
      ? true
      : base === "string[]"
      ? Array.isArray(value) && value.every((v) => typeof v === "string")
      : base === "string|string[]"
      ? typeof value === "string" ||
        (Array.isArray(value) && value.every((v) => typeof v === "string"))
      : (typeof value as string) === base;
    if (!ok) {
      throw new CrosstalkError(
        "ERR_BODY_INVALID",
        `"${key}" must be ${wanted.replaceAll("|", " or ")}`,
      );
    }
  }
}
