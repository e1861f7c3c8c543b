// Helpers for the live agent tests: engines on two machines and sessions on them.
import { join } from "node:path";
import { AGENTS, EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";

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
