// How a command reaches the bus: directly on a transport folder, or through an engine's HTTP API
// (so that identity and auth apply). Credentials live in ~/.config/crosstalk/credentials.json.
import { join } from "../transports/path.ts";
import type { Bus, SendOptions } from "../engine/bus.ts";
import type { LocalCredential } from "../engine/api_setup.ts";
import { apiUrl } from "../engine/background.ts";
import type { Env } from "../engine/paths.ts";
import { CrosstalkError, errorFromApi, errorText } from "../schema/errors.ts";
import type { Channel, Message } from "../transports/mod.ts";
import {
  checkChannelName,
  isChannelId,
  parseMessageHandle,
  tryParseMessageId,
} from "../transports/names.ts";
import { writeFileAtomic } from "../transports/_fs.ts";
import {
  type CliContext,
  locationOf,
  namesAnEngine,
  openBus,
  type TransportFlags,
} from "./_context.ts";
import type { WorkflowView } from "../engine/workflow.ts";
import type { Plan } from "../engine/workflow_plan.ts";
import type { SearchResult } from "../engine/search.ts";
import type { MessageAnnotations, TaskEntry } from "../engine/tasks.ts";

/** What the message and channel commands need, wherever the bus is. */
export interface BusClient extends AsyncDisposable {
  /** "direct" on a folder, or the server's URL. */
  readonly via: string;
  readonly maxBodyBytes: number;
  send(options: SendOptions): Promise<Message>;
  /** With `before`, the last `limit` messages before that id (in order). */
  listMessages(
    channel: string | undefined,
    options: {
      since?: string | undefined;
      before?: string | undefined;
      limit?: number | undefined;
    },
  ): Promise<{ channel: Channel; messages: Message[]; skipped: number }>;
  findMessage(ref: string, channel?: string): Promise<Message>;
  replies(message: Message): Promise<Message[]>;
  waitForReplies(messages: Message[], timeoutMs: number): Promise<Message[]>;
  deliveryStatus(message: Message): Promise<unknown>;
  /** The message's task (null when it is none) and badges, oldest first. */
  annotations(message: Message): Promise<MessageAnnotations>;
  listChannels(): Promise<Channel[]>;
  createChannel(name: string, parent?: string): Promise<Channel>;
  showChannel(handle: string): Promise<Channel & { messages: number }>;
  renameChannel(handle: string, name: string): Promise<Channel>;
  deleteChannel(handle: string): Promise<Channel>;
  /** Every workflow, newest first (engine/workflow.ts `WorkflowView`). */
  listWorkflows(): Promise<WorkflowView[]>;
  showWorkflow(child: string): Promise<WorkflowView>;
  /** The plan written in a request's text. @throws {CrosstalkError} `ERR_WORKFLOW_INVALID` */
  checkPlan(body: string): Promise<Plan>;
  /** Messages containing every word of `query`, newest first. */
  search(query: string, options: { channel?: string; limit?: number }): Promise<SearchResult>;
  /** Tasks across channels: open and claimed, or every one. */
  listTasks(all: boolean): Promise<TaskEntry[]>;
}

class DirectClient implements BusClient {
  readonly via = "direct";
  #bus: Bus;
  #warn: (text: string) => void;
  #wrote = false;
  constructor(bus: Bus, warn: (text: string) => void) {
    this.#bus = bus;
    this.#warn = warn;
  }
  get maxBodyBytes() {
    return this.#bus.config.limits.message_bytes;
  }
  send(o: SendOptions) {
    this.#wrote = true;
    return this.#bus.send(o);
  }
  listMessages(
    channel: string | undefined,
    o: { since?: string | undefined; before?: string | undefined; limit?: number | undefined },
  ) {
    return this.#bus.listMessages(channel, o);
  }
  findMessage(ref: string, channel?: string) {
    const named = channelInRef(ref);
    return named
      ? this.#bus.findMessage(named.id, named.channel)
      : this.#bus.findMessage(ref, channel);
  }
  replies(m: Message) {
    return this.#bus.replies(m);
  }
  waitForReplies(m: Message[], t: number) {
    return this.#bus.waitForReplies(m, t);
  }
  async deliveryStatus(m: Message) {
    const { deliveryStatus } = await import("../engine/status.ts");
    return deliveryStatus(this.#bus, m);
  }
  async annotations(m: Message) {
    const { annotationsOf } = await import("../engine/tasks.ts");
    const { annotations } = await annotationsOf(this.#bus, { channel: m.channel, ids: [m.id] });
    return annotations.get(m.id)!;
  }
  listChannels() {
    return this.#bus.listChannels();
  }
  createChannel(name: string, parent?: string) {
    this.#wrote = true;
    return this.#bus.createChannel(name, parent);
  }
  async showChannel(handle: string) {
    const channel = await this.#bus.resolveChannel(handle);
    return { ...channel, messages: (await this.#bus.transport.listMessageIds(channel.id)).length };
  }
  renameChannel(handle: string, name: string) {
    this.#wrote = true;
    return this.#bus.renameChannel(handle, name);
  }
  deleteChannel(handle: string) {
    this.#wrote = true;
    return this.#bus.deleteChannel(handle);
  }
  async listWorkflows() {
    const { listWorkflows } = await import("../engine/workflow.ts");
    return await listWorkflows(this.#bus);
  }
  async showWorkflow(child: string) {
    const { readWorkflow } = await import("../engine/workflow.ts");
    return await readWorkflow(this.#bus, await this.#childId(child));
  }
  async checkPlan(body: string) {
    const { requirePlan } = await import("../engine/workflow_plan.ts");
    return requirePlan(body, this.#bus.config);
  }
  async search(query: string, options: { channel?: string; limit?: number }) {
    const { searchMessages } = await import("../engine/search.ts");
    return await searchMessages(this.#bus, query, options);
  }
  async listTasks(all: boolean) {
    const { listTasks } = await import("../engine/tasks.ts");
    const { AnnotationStore } = await import("../transports/annotations.ts");
    return await listTasks(new AnnotationStore(this.#bus.transport.root), this.#bus, { all });
  }
  async #childId(handle: string) {
    return (await this.#bus.resolveChannel(handle)).id;
  }
  async [Symbol.asyncDispose]() {
    try {
      // Written straight into a clone: off to the remote, so other machines see it without
      // waiting for an engine here. It is committed either way; a failed push only warns.
      if (this.#wrote) {
        const result = await this.#bus.publish().catch((error: unknown) => {
          this.#warn(
            `warning: committed here, not yet pushed: ${errorText(error)}\n`,
          );
          return undefined;
        });
        if (result === "behind") {
          this.#warn(
            "warning: committed here, not yet pushed: the remote has newer commits; an engine on this transport (crosstalk serve) merges and pushes them\n",
          );
        }
      }
    } finally {
      await this.#bus[Symbol.asyncDispose]();
    }
  }
}

/**
 * Where a client's credential comes from: `run`, the environment of an agent CLI the engine runs
 * (`CROSSTALK_API`, `CROSSTALK_TOKEN`: the run's own token, which speaks as its model and nobody
 * else); `login`, a saved login or `--server`; `local`, the credential the local engine leaves for
 * its machine's CLI.
 */
export type CredentialOrigin = "run" | "login" | "local";

/** A client of an engine's HTTP API. */
export class HttpClient implements BusClient {
  readonly maxBodyBytes = 64 * 1024 * 1024;
  readonly origin: CredentialOrigin;
  #via: string;
  #token: string | undefined;

  constructor(server: string, token: string | undefined, origin: CredentialOrigin = "login") {
    this.#via = server.replace(/\/+$/, "");
    this.#token = token;
    this.origin = origin;
  }

  /** The engine's base URL. */
  get via(): string {
    return this.#via;
  }

  /** Follows the same engine to its new address (it restarted on another port). */
  moveTo(server: string): void {
    this.#via = server.replace(/\/+$/, "");
  }

  /** Calls the API; an error response becomes the CrosstalkError it names. */
  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.via}${path}`, {
        method,
        headers: {
          ...(this.#token ? { Authorization: `Bearer ${this.#token}` } : {}),
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new CrosstalkError(
        "ERR_TIMEOUT",
        `Cannot reach the engine at ${this.via}: ${errorText(error)}`,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CrosstalkError(
        "ERR_TIMEOUT",
        `The engine at ${this.via} answered ${response.status} with something that is not JSON`,
      );
    }
    if (!response.ok) throw errorFromApi(response.status, json);
    return json as T;
  }

  /**
   * Opens a Server-Sent Events stream of the API.
   *
   * @throws {CrosstalkError} the error the engine answers with, or `ERR_TIMEOUT` when it is
   *   not reachable
   */
  async stream(path: string, signal: AbortSignal, lastEventId?: string): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.via}${path}`, {
        headers: {
          accept: "text/event-stream",
          ...(this.#token ? { Authorization: `Bearer ${this.#token}` } : {}),
          ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}),
        },
        signal,
      });
    } catch (error) {
      throw new CrosstalkError(
        "ERR_TIMEOUT",
        `Cannot reach the engine at ${this.via}: ${errorText(error)}`,
      );
    }
    if (!response.ok || !response.body) {
      throw errorFromApi(response.status, await response.json().catch(() => ({})));
    }
    return response;
  }

  send(o: SendOptions) {
    const body: Record<string, unknown> = { body: o.body };
    if (o.to !== undefined) body.to = o.to;
    if (o.exclude?.length) body.exclude = o.exclude;
    if (o.channel !== undefined) body.channel = o.channel;
    if (o.from !== undefined) body.from = o.from;
    if (o.as !== undefined) body.as = o.as;
    if (o.re !== undefined) body.re = o.re;
    if (o.createChannel) body.create_channel = true;
    if (o.type !== undefined) body.type = o.type;
    return this.call<Message>("POST", "/api/messages", body, {
      "Idempotency-Key": crypto.randomUUID(),
    });
  }
  async listMessages(
    channel: string | undefined,
    o: { since?: string | undefined; before?: string | undefined; limit?: number | undefined },
  ) {
    const resolved = await this.showChannel(channel ?? "general");
    const q = new URLSearchParams({ channel: resolved.id, limit: String(o.limit ?? 500) });
    if (o.since) q.set("since", o.since);
    if (o.before) q.set("before", o.before);
    const messages: Message[] = [];
    let skipped = 0;
    for (;;) {
      const page = await this.call<
        { messages: Message[]; next: string | null; skipped?: number }
      >("GET", `/api/messages?${q}`);
      messages.push(...page.messages);
      skipped += page.skipped ?? 0;
      if (!page.next || o.limit !== undefined) break;
      q.set("since", page.next);
    }
    return { channel: resolved, messages, skipped };
  }
  async findMessage(ref: string, channel?: string): Promise<Message> {
    const named = channelInRef(ref);
    if (named) return await this.findMessage(named.id, named.channel);
    // Checked here, before it becomes part of a URL (a `..` would not stay in its channel).
    const { channel: inRef, id: trimmed } = parseMessageHandle(ref);
    if (inRef !== undefined) return this.call<Message>("GET", `/api/messages/${inRef}/${trimmed}`);
    const channels = channel ? [await this.showChannel(channel)] : await this.listChannels();
    const found: Message[] = [];
    for (const c of channels) {
      try {
        found.push(await this.call<Message>("GET", `/api/messages/${c.id}/${trimmed}`));
      } catch (error) {
        if (!(error instanceof CrosstalkError) || !/NOT_FOUND/.test(error.code)) throw error;
      }
    }
    if (found.length === 1) return found[0]!;
    if (found.length === 0) {
      throw new CrosstalkError("ERR_MESSAGE_NOT_FOUND", `No message "${trimmed}" in any channel`);
    }
    throw new CrosstalkError(
      "ERR_MESSAGE_AMBIGUOUS",
      `Message id "${trimmed}" is in ${found.length} channels: name one with --channel`,
    );
  }
  async replies(m: Message) {
    return (await this.call<{ replies: Message[] }>(
      "GET",
      `/api/messages/${m.channel}/${m.id}/replies`,
    )).replies;
  }
  async waitForReplies(messages: Message[], timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    const all = new Map<string, Message>();
    for (const m of messages) {
      for (;;) {
        const left = Math.ceil((deadline - Date.now()) / 1000);
        const wait = Math.max(0, Math.min(left, 120));
        const { replies } = await this.call<{ replies: Message[] }>(
          "GET",
          `/api/messages/${m.channel}/${m.id}/replies?wait=${wait}`,
        );
        for (const r of replies) all.set(`${r.channel}/${r.id}`, r);
        if (replies.length > 0 || wait === 0 || Date.now() >= deadline) break;
      }
    }
    return [...all.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }
  deliveryStatus(m: Message) {
    return this.call<unknown>("GET", `/api/messages/${m.channel}/${m.id}/status`);
  }
  async annotations(m: Message) {
    const { annotations } = await this.call<{ annotations: Record<string, MessageAnnotations> }>(
      "POST",
      `/api/channels/${m.channel}/annotations`,
      { ids: [m.id] },
    );
    return annotations[m.id] ?? { task: null, badges: [] };
  }
  async listChannels() {
    return (await this.call<{ channels: Channel[] }>("GET", "/api/channels")).channels;
  }
  createChannel(name: string, parent?: string) {
    return this.call<Channel>(
      "POST",
      "/api/channels",
      parent === undefined ? { name } : { name, parent },
    );
  }
  showChannel(handle: string) {
    return this.call<Channel & { messages: number }>(
      "GET",
      `/api/channels/${encodeURIComponent(handle)}`,
    );
  }
  renameChannel(handle: string, name: string) {
    return this.call<Channel>("PATCH", `/api/channels/${encodeURIComponent(handle)}`, { name });
  }
  deleteChannel(handle: string) {
    return this.call<Channel>("DELETE", `/api/channels/${encodeURIComponent(handle)}`);
  }
  async listWorkflows() {
    return (await this.call<{ workflows: WorkflowView[] }>("GET", "/api/workflows")).workflows;
  }
  async showWorkflow(child: string) {
    if (isChannelId(child)) return await this.call<WorkflowView>("GET", `/api/workflows/${child}`);
    // A name or a uuid prefix, as everywhere else: looked up among the workflows.
    const found = (await this.listWorkflows()).filter((w) =>
      w.name === child || w.child.startsWith(child)
    );
    if (found.length === 1) return found[0]!;
    throw new CrosstalkError(
      found.length === 0 ? "ERR_CHANNEL_NOT_FOUND" : "ERR_CHANNEL_AMBIGUOUS",
      found.length === 0
        ? `No workflow "${child}"`
        : `"${child}" names ${found.length} workflows: ${found.map((w) => w.child).join(", ")}`,
    );
  }
  async checkPlan(body: string) {
    return (await this.call<{ plan: Plan }>("POST", "/api/workflows/check", { body })).plan;
  }
  search(query: string, options: { channel?: string; limit?: number }) {
    const params = new URLSearchParams({ q: query });
    if (options.channel !== undefined) params.set("channel", options.channel);
    if (options.limit !== undefined) params.set("limit", String(options.limit));
    return this.call<SearchResult>("GET", `/api/search?${params}`);
  }
  async listTasks(all: boolean) {
    const path = `/api/tasks?state=${all ? "all" : "open"}`;
    return (await this.call<{ tasks: TaskEntry[] }>("GET", path)).tasks;
  }
  [Symbol.asyncDispose]() {
    return Promise.resolve();
  }
}

/**
 * A message reference `<channel>/<id>` whose channel is a name or a unique uuid prefix (`task list`
 * prints `<8 hex>/<id>`): that channel and the id. Undefined for any other reference (a bare id, or
 * one whose channel is a whole uuid, which the bus reads as it is).
 */
function channelInRef(ref: string): { channel: string; id: string } | undefined {
  const parts = ref.trim().replace(/^data\/channels\//, "").split("/");
  const [channel, ...rest] = parts;
  const id = rest.join("/");
  if (parts.length !== 5 || isChannelId(channel!) || !tryParseMessageId(id)) return undefined;
  try {
    checkChannelName(channel!);
  } catch {
    // No channel's name (`..`, a space at its start): the id as it is, refused as one.
    return undefined;
  }
  return { channel: channel!, id };
}

/** One saved login. */
export interface Profile {
  server: string;
  username: string;
  token: string;
}

/** `~/.config/crosstalk/credentials.json`. */
export interface Credentials {
  active?: string;
  profiles: Record<string, Profile>;
  /**
   * Set when the file there is JSON but not logins this crosstalk wrote (another program's, or
   * an older crosstalk's): what is wrong with it. Its logins are not used, and it is never
   * overwritten.
   */
  foreign?: string;
}

/** Where the CLI keeps its logins. */
export function credentialsPath(env: Env): string {
  // Set but empty is unset (as XDG says): else the logins would land in the working folder.
  const config = env.XDG_CONFIG_HOME || join(env.HOME || env.USERPROFILE || ".", ".config");
  return join(config, "crosstalk", "credentials.json");
}

/** Reads the saved logins (none when the file does not exist). */
export async function loadCredentials(env: Env): Promise<Credentials> {
  try {
    const value: unknown = JSON.parse(await Deno.readTextFile(credentialsPath(env)));
    const foreign = credentialsProblem(value);
    if (foreign !== undefined) return { profiles: {}, foreign };
    const { profiles, active } = value as Credentials;
    return { profiles, ...(active ? { active } : {}) };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { profiles: {} };
    throw new CrosstalkError(
      "ERR_CONFIG_INVALID",
      `Cannot read "${credentialsPath(env)}": ${errorText(error)}`,
    );
  }
}

/** What makes `value` something other than the saved logins this crosstalk writes, if anything. */
function credentialsProblem(value: unknown): string | undefined {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObject(value)) return "it is not a JSON object";
  const others = Object.keys(value).filter((k) => k !== "profiles" && k !== "active");
  if (others.length > 0) {
    return `it has keys this crosstalk does not write (${
      others.map((k) => JSON.stringify(k)).join(", ")
    })`;
  }
  if (value.active !== undefined && typeof value.active !== "string") {
    return '"active" is not a profile name';
  }
  if (!isObject(value.profiles)) return '"profiles" is not an object of logins';
  for (const [name, profile] of Object.entries(value.profiles)) {
    if (
      !isObject(profile) || typeof profile.server !== "string" ||
      typeof profile.username !== "string" || typeof profile.token !== "string"
    ) {
      return `its profile ${JSON.stringify(name)} is not a server, username and token`;
    }
  }
  return undefined;
}

/**
 * Refuses to go on when the saved logins' file is another program's (see `Credentials.foreign`).
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` naming the file and what is wrong with it
 */
export function checkCredentialsWritable(env: Env, credentials: Credentials): void {
  if (credentials.foreign === undefined) return;
  throw new CrosstalkError(
    "ERR_CONFIG_INVALID",
    `Cannot save logins in "${credentialsPath(env)}": ${credentials.foreign}, so it may be ` +
      "another program's or an older crosstalk's; it was left as it is. Move it away, then log in " +
      "again",
  );
}

/**
 * Writes the saved logins, readable by the user only.
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` when the file there is not this crosstalk's
 */
export async function saveCredentials(env: Env, credentials: Credentials): Promise<void> {
  checkCredentialsWritable(env, credentials);
  const path = credentialsPath(env);
  await Deno.mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
}

/**
 * Where the engine of this transport on this machine says it listens (its credential file),
 * without asking it; undefined when it left none.
 */
export async function localEngineServer(
  flags: TransportFlags,
  ctx: CliContext,
): Promise<string | undefined> {
  const location = locationOf(flags, ctx);
  try {
    const credential = JSON.parse(
      await Deno.readTextFile(join(location.stateDir, "cli-credential.json")),
    ) as LocalCredential;
    return typeof credential.server === "string" ? credential.server : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The error for this transport's engine when it runs and has no user yet (so it left no
 * credential): it names the `/setup` URL that creates the admin. Undefined otherwise, and for
 * `--server` or `--profile`.
 */
export async function pendingSetupError(
  flags: TransportFlags,
  ctx: CliContext,
): Promise<CrosstalkError | undefined> {
  if (namesAnEngine(ctx)) return undefined;
  const { stateDir } = locationOf(flags, ctx);
  const token = (await Deno.readTextFile(join(stateDir, "setup-token")).catch(() => "")).trim();
  const server = token === "" ? undefined : await apiUrl(stateDir, ctx.env);
  if (!server) return undefined;
  try {
    const health = await fetch(`${server}/healthz`, { signal: AbortSignal.timeout(2000) });
    await health.body?.cancel();
    if (!health.ok) return undefined;
  } catch {
    return undefined;
  }
  return new CrosstalkError(
    "ERR_UNAUTHENTICATED",
    `The engine at ${server} has no admin yet: create one at ${server}/setup?token=${token}, then try again`,
  );
}

/** The engine of this transport on this machine, when it runs and left a credential. */
async function localEngine(flags: TransportFlags, ctx: CliContext): Promise<Profile | undefined> {
  const location = locationOf(flags, ctx);
  try {
    const credential = JSON.parse(
      await Deno.readTextFile(join(location.stateDir, "cli-credential.json")),
    ) as LocalCredential;
    const health = await fetch(`${credential.server}/healthz`, {
      signal: AbortSignal.timeout(2000),
    });
    await health.body?.cancel();
    return health.ok ? credential : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The API to use for this command, if any: `--server` or `--profile`; else, in an agent CLI the
 * engine runs, that engine with the run's own token (`CROSSTALK_API`, `CROSSTALK_TOKEN`), so the
 * agent speaks as itself; else the active profile, else the running local engine of the selected
 * transport.
 */
export async function resolveApi(
  flags: TransportFlags,
  ctx: CliContext,
): Promise<HttpClient | undefined> {
  const { server, profile } = ctx.globals;
  if (server !== undefined || profile !== undefined) {
    const credentials = await loadCredentials(ctx.env);
    const saved = profile !== undefined
      ? credentials.profiles[profile]
      : Object.values(credentials.profiles).find((p) => p.server === server?.replace(/\/+$/, ""));
    if (profile !== undefined && !saved) {
      throw new CrosstalkError(
        "ERR_UNAUTHENTICATED",
        `No profile "${profile}" (run "crosstalk auth login --profile ${profile}")`,
      );
    }
    return new HttpClient(server ?? saved!.server, saved?.token);
  }
  if (flags.path === undefined && flags.containername === undefined) {
    const { CROSSTALK_API: api, CROSSTALK_TOKEN: token } = ctx.env;
    if (api && token) return new HttpClient(api, token, "run");
    const credentials = await loadCredentials(ctx.env);
    const active = credentials.active ? credentials.profiles[credentials.active] : undefined;
    if (active) return new HttpClient(active.server, active.token);
  }
  const local = await localEngine(flags, ctx);
  return local ? new HttpClient(local.server, local.token, "local") : undefined;
}

/**
 * The bus for a message or channel command: `--path` works on the folder directly; otherwise a
 * reachable engine (or an explicit server) is used through its API, so identity and auth apply.
 */
export async function openClient(flags: TransportFlags, ctx: CliContext): Promise<BusClient> {
  if (flags.path === undefined) {
    const api = await resolveApi(flags, ctx);
    if (api) return api;
  }
  return new DirectClient(await openBus(flags, ctx), (text) => ctx.err(text));
}

/**
 * The API for commands that only exist there (tokens, users).
 *
 * @throws {CrosstalkError} `ERR_UNAUTHENTICATED` when no engine can be reached
 */
export async function openApi(flags: TransportFlags, ctx: CliContext): Promise<HttpClient> {
  const api = await resolveApi(flags, ctx);
  if (!api) {
    const setup = await pendingSetupError(flags, ctx);
    if (setup) throw setup;
    throw new CrosstalkError(
      "ERR_UNAUTHENTICATED",
      'No engine to talk to: start one with "crosstalk serve", or run "crosstalk auth login --server URL"' +
        await oldTokenFile(ctx.env).then((path) =>
          path ? ` (the token file of an older crosstalk, "${path}", is not read)` : ""
        ),
    );
  }
  return api;
}

/**
 * The token file of an older crosstalk (its v7 `cli-token`) when one is there. This crosstalk
 * never reads it: a user who logged in with it needs `auth login` once.
 */
export async function oldTokenFile(env: Env): Promise<string | undefined> {
  const path = join(credentialsPath(env), "..", "cli-token");
  return (await Deno.lstat(path).then((s) => s.isFile, () => false)) ? path : undefined;
}
