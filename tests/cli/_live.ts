// Helpers for the live agent tests: engines on two machines and sessions on them.
import assert from "node:assert/strict";
import { join } from "node:path";
import { AGENTS, EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { runCrosstalk } from "../_helpers.ts";
import { TmuxServer } from "../_tmux.ts";

/**
 * Engines `a` and `b` (on one shared folder, or on two clones of a remote) with the admin "boss",
 * and a way to start a live Claude Code session on either.
 */
export async function twoMachines(home: string, roots: { a: string; b: string }) {
  const env = { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" };
  const state = (alias: "a" | "b") => join(home, `state-${alias}`);
  const a = await EngineProcess.start(roots.a, { alias: "a", state: state("a"), env });
  const b = await EngineProcess.start(roots.b, { alias: "b", state: state("b"), env });
  await a.waitFor((r) => r.event === "api.listening");
  await b.waitFor((r) => r.event === "api.listening");
  const session = (alias: "a" | "b", name: string) =>
    McpSession.start(home, [
      ...["--path", roots[alias], "--state", state(alias)],
      ...["--name", name, "--agent", "claude"],
    ]);
  return { a, b, session };
}

/** Options for {@linkcode startTeam}. */
export interface StartTeamOptions {
  /** More arguments for `crosstalk serve`. */
  args?: string[];
  /** The transport's yaml; default the provider test with the model reply. */
  yaml?: string;
}

/** The engine of the transport "team" in `home`, with the admin "boss" and the model reply. */
export async function startTeam(
  home: string,
  options: StartTeamOptions = {},
): Promise<EngineProcess> {
  const { root, state } = namedTransport(home);
  await makeTransport(
    root,
    options.yaml ?? `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  const engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
    args: options.args ?? [],
  });
  await engine.waitFor((r) => r.event === "api.listening");
  return engine;
}

/** The URL and admin token the engine of "team" in `home` leaves for the local CLI. */
export async function teamCredential(home: string): Promise<{ server: string; token: string }> {
  return JSON.parse(
    await Deno.readTextFile(join(namedTransport(home).state, "cli-credential.json")),
  ) as { server: string; token: string };
}

/** Calls the API of the engine of "team" as its admin; fails on an error status. */
export async function teamApi(
  home: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const { server, token } = await teamCredential(home);
  const response = await fetch(`${server}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = await response.json();
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  }
  return json;
}

/**
 * Makes `username` a user of the engine of "team" (not an admin) and logs the CLI in as them, as
 * the profile of the same name (`--profile NAME`).
 */
export async function addUserProfile(home: string, username: string): Promise<void> {
  const passphrase = `${username}'s passphrase`;
  await teamApi(home, "POST", "/api/users", { username, passphrase });
  const { server } = await teamCredential(home);
  const login = await runCrosstalk(
    ["--server", server, "--profile", username, "auth", "login", "--username", username],
    { home, stdin: `${passphrase}\n` },
  );
  if (login.code !== 0) throw new Error(`auth login as ${username}: ${login.stderr}`);
}

/** A live session named `name` on the engine of "team" in `home`, woken by nothing (pull). */
export function pullSession(home: string, name: string): Promise<McpSession> {
  return McpSession.start(home, ["--containername", "team", "--name", name, "--wake", "pull"]);
}

/**
 * Registers the live agent "carol" on a team engine through the API, as boss: the API's URL,
 * boss's user token and carol's live token.
 */
export async function registerCarol(engine: EngineProcess) {
  const url = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  const login = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "boss", passphrase: "the boss passphrase" }),
  });
  const user = (await login.json()).token as string;
  const registered = await fetch(`${url}/api/live`, {
    method: "POST",
    headers: { Authorization: `Bearer ${user}`, "content-type": "application/json" },
    body: JSON.stringify({ agent: "claude", name: "carol", wake: "pull" }),
  });
  assert.equal(registered.status, 201);
  return { url, user, live: (await registered.json()).token as string };
}

/**
 * The engine of "team" in `home` and a tmux pane running "aider", registered as the tmux agent
 * `coder` (with `more` arguments for `agent add`); disposing it stops both.
 */
export async function teamWithCoder(home: string, more: string[] = []) {
  const stack = new AsyncDisposableStack();
  const tmux = stack.use(new TmuxServer(home));
  const pane = await tmux.program("coder", "aider", home);
  stack.use(await startTeam(home));
  const args = ["agent", "add", "coder", "--tmux", "coder", "--socket", tmux.socket, ...more];
  const added = await runCrosstalk([...args, "--containername", "team"], { home });
  assert.equal(added.code, 0, `crosstalk ${args.join(" ")}: ${added.stderr}`);
  return { tmux, pane, [Symbol.asyncDispose]: () => stack.disposeAsync() };
}
