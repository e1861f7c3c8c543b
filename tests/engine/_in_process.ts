// A real engine in the test's own process, with its API app and a token of every kind: for route
// tests through app.request() that need the engine behind them (live agents, tmux agents).
import { join } from "node:path";
import { AuthStore } from "../../engine/auth.ts";
import { Engine } from "../../engine/engine.ts";
import { locateTransport } from "../../engine/paths.ts";
import { createApp } from "../../routes/mod.ts";
import { makeTransport } from "./_harness.ts";

/** Options for {@linkcode engineWithApi}. */
export interface EngineWithApiOptions {
  /** The transport's yaml (default no providers); the agent token speaks as `agentModel`. */
  yaml?: string;
  /** The model a dispatched CLI's token speaks as (default `test/echo`). */
  agentModel?: string;
  /** The live session registered for the live token (default `mcp-one`). */
  liveName?: string;
  /** Runs on the state dir before the engine starts. */
  before?: (stateDir: string) => Promise<void>;
}

/**
 * An engine on a local transport in `dir` whose users are boss (an admin) and guest, a live
 * session, its API app, and tokens: `admin`, `user`, `live` (the session's) and `agent` (a
 * dispatched CLI's). `call` requests the app with one of them (`app` for other headers); disposing of it stops the engine.
 */
export async function engineWithApi(dir: string, options: EngineWithApiOptions = {}) {
  const root = join(dir, "bus");
  await makeTransport(root, options.yaml ?? "providers: {}\n");
  const location = locateTransport({ path: root, state: join(dir, "state") }, { HOME: dir });
  await options.before?.(location.stateDir);
  const engine = await Engine.start(location, { env: { HOME: dir, USER: "tester" } });
  const auth = await AuthStore.open(location.stateDir);
  await auth.createUser("boss", "the boss passphrase", true);
  await auth.createUser("guest", "the guest passphrase", false);
  engine.setUsers(() => auth.listUsers().map((u) => u.username));
  const app = createApp({ bus: engine.bus, auth, version: "0", live: engine });
  const { agent, jti } = await engine.registerLive(
    { name: options.liveName ?? "mcp-one", agent: "claude", wake: "pull" },
    "boss",
  );
  const tokens = {
    admin: (await auth.mintToken("boss", "test")).token,
    user: (await auth.mintToken("guest", "test")).token,
    live: await auth.mintLiveToken(agent.name, jti, 600),
    agent: await auth.mintAgentToken(options.agentModel ?? "test/echo", 600),
  };
  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const response = await app.request(path, {
      method,
      headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: await response.json() };
  };
  return {
    engine,
    app,
    stateDir: location.stateDir,
    tokens,
    call,
    async [Symbol.asyncDispose]() {
      await engine.close();
    },
  };
}
