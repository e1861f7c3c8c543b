// Who a message sent through an engine is from, and who a task or badge step there acts as (`task
// flag|claim|resolve`, `message badge`), and why (`crosstalk whoami` says it), first match:
//   1. `--from NAME`;
//   2. in an agent CLI the engine runs (its CROSSTALK_API and CROSSTALK_TOKEN set): the
//      credential's own name, the run's model with the run's token; nothing below applies there
//      (the run inherits the engine's environment, its CROSSTALK_FROM and tmux pane included, and
//      its process tree is the engine's);
//   3. `$CROSSTALK_FROM`;
//   4. the live session (`crosstalk mcp`) whose agent CLI runs this command: of the sessions that
//      left a record in this engine's state dir, the one whose agent CLI is this process's nearest
//      ancestor, as the approval hook finds its session (engine/local_sessions.ts), and only while
//      the engine has it online (a record outlives a session its engine ended; a pid is reused).
//      So Claude Code's Bash tool sends as its session. Where the process tree cannot be read
//      (no /proc, no ps), it never matches;
//   5. the tmux agent of this engine registered for the pane the command runs in (`$TMUX_PANE`);
//   6. the credential's own name: the local engine's admin, or the user of a saved login.
// The session comes before the pane: the process tree says which agent runs the command, while
// $TMUX_PANE is inherited by everything started in the pane, a person's shell there included; an
// agent CLI that runs a session in a registered pane speaks as that session, whose inbox it reads.
// Only a token that may send as someone else (an admin's) can send as another name than its own:
// the engine refuses the rest, and the CLI then says where the name came from.
import type { Env } from "../engine/paths.ts";
import type { LiveAgentInfo } from "../engine/live.ts";
import type { TmuxAgentView } from "../engine/tmux_agents.ts";
import type { TmuxHere } from "../engine/tmux_here.ts";
import type { Identity } from "../engine/auth.ts";
import { CrosstalkError } from "../schema/errors.ts";
import type { HttpClient } from "./_client.ts";
import { type CliContext, locationOf, type TransportFlags } from "./_context.ts";

/** `--from` of the task verbs and `message badge`: who they act as, as `message send --from`. */
export const ACT_FROM_HELP = "act as this name (default: $CROSSTALK_FROM, else the live " +
  "session whose agent CLI runs this, else this tmux pane's agent, else you; see whoami)";

/** Where a sender's name comes from. */
export type SenderSource = "flag" | "run" | "env" | "session" | "pane" | "credential";

/** Where a command looks for its sender ({@linkcode senderOf}). */
export interface SenderOptions {
  /** `--from`. */
  flag: string | undefined;
  env: Env;
  /**
   * The state dir of the command's engine, where its live sessions keep their records; without
   * it, no live session is looked for.
   */
  stateDir?: string | undefined;
}

/** The {@linkcode SenderOptions} of a command with `--from` and the transport flags. */
export function senderOptions(
  flags: TransportFlags & { from?: string | undefined },
  ctx: CliContext,
): SenderOptions {
  return { flag: flags.from, env: ctx.env, stateDir: locationOf(flags, ctx).stateDir };
}

/** Who a send speaks as. */
export interface Sender {
  /** The `from` to send with; undefined: the credential's own name. */
  from: string | undefined;
  source: SenderSource;
  /** Why, for a person. */
  why: string;
}

/**
 * The sender of a message sent through `api` (see the rules above).
 *
 * @throws {CrosstalkError} what the engine answers when its live or tmux agents cannot be listed
 *   for another reason than having none (no engine behind the API, a token that may not list them)
 */
export async function senderOf(api: HttpClient, options: SenderOptions): Promise<Sender> {
  const { flag, env } = options;
  if (flag !== undefined) return { from: flag, source: "flag", why: "--from" };
  // In a run, whichever credential the command found (a --containername finds the local one).
  if (api.origin === "run" || (env.CROSSTALK_API && env.CROSSTALK_TOKEN)) {
    return {
      from: undefined,
      source: "run",
      why: api.origin === "run"
        ? "the token of this agent run ($CROSSTALK_TOKEN), whatever $CROSSTALK_FROM or a tmux " +
          "pane say"
        : "the credential's own name: in an agent run ($CROSSTALK_TOKEN set), $CROSSTALK_FROM " +
          "and a tmux pane do not apply",
    };
  }
  const named = env.CROSSTALK_FROM?.trim();
  if (named) return { from: named, source: "env", why: "$CROSSTALK_FROM" };
  const session = options.stateDir === undefined
    ? undefined
    : await liveSessionOf(api, options.stateDir);
  if (session) {
    const cli = `${session.agent}, pid ${session.agentPid}`;
    return {
      from: session.name,
      source: "session",
      why: `the live session ${session.name} whose agent CLI (${cli}) runs this command`,
    };
  }
  const { tmuxHere } = await import("../engine/tmux_here.ts");
  const here = tmuxHere(env);
  if (here) {
    const agent = await paneAgentOf(api, here);
    if (agent) {
      return {
        from: agent.name,
        source: "pane",
        why: `the tmux agent registered for this pane (${here.pane})`,
      };
    }
  }
  return {
    from: undefined,
    source: "credential",
    why: api.origin === "local"
      ? "the credential the local engine leaves for this machine's CLI"
      : "the saved login",
  };
}

/** The live session of `stateDir` this command runs under, if the engine behind `api` has it. */
async function liveSessionOf(
  api: HttpClient,
  stateDir: string,
): Promise<{ name: string; agent: string; agentPid: number } | undefined> {
  const { localSession } = await import("../engine/local_sessions.ts");
  const match = await localSession(stateDir);
  if (!match) return undefined;
  // The record is this machine's; the engine says whether the session is still there. A session
  // that left, or a record whose pid another process now has, is not online under that name.
  const agents = await agentsOf<LiveAgentInfo>(api, "/api/live");
  const agent = agents.find((a) => a.name === match.session.name && a.kind !== "pane" && a.online);
  return agent && { name: agent.name, agent: agent.agent, agentPid: match.agentPid };
}

/** The tmux agent the engine behind `api` has for the pane `here`, if any. */
async function paneAgentOf(
  api: HttpClient,
  here: TmuxHere,
): Promise<TmuxAgentView | undefined> {
  const agents = await agentsOf<TmuxAgentView>(api, "/api/tmux-agents");
  if (!agents.some((a) => a.pane === here.pane)) return undefined;
  const { paneAgent } = await import("../engine/tmux_here.ts");
  return await paneAgent(here, agents);
}

/** The agents the engine behind `api` lists at `path`: none without an engine or permission. */
async function agentsOf<T>(api: HttpClient, path: string): Promise<T[]> {
  try {
    return (await api.call<{ agents: T[] }>("GET", path)).agents;
  } catch (error) {
    // No engine behind the API (no agents), or a token that may not list them: none to be.
    if (
      error instanceof CrosstalkError &&
      (error.code === "ERR_ROUTE_NOT_FOUND" || error.code === "ERR_FORBIDDEN")
    ) {
      return [];
    }
    throw error;
  }
}

/** Options for {@linkcode explainRefusal}. */
export interface ExplainRefusalOptions {
  /** What the command does as the sender: `send` (a message, the default) or `act` (a task step). */
  verb?: "send" | "act";
}

/**
 * What a send (or a task or badge call) refused for its sender says instead of the engine's word
 * (which is about a token): the name, where it came from, who the credential is, and how to act
 * as that. Any other error is given back as it is.
 */
export async function explainRefusal(
  api: HttpClient,
  sender: Sender,
  error: unknown,
  options: ExplainRefusalOptions = {},
): Promise<unknown> {
  if (
    !(error instanceof CrosstalkError) || sender.from === undefined ||
    (sender.source !== "env" && sender.source !== "session" && sender.source !== "pane")
  ) {
    return error;
  }
  const verb = options.verb ?? "send";
  const from = JSON.stringify(sender.from);
  if (error.code === "ERR_ADDRESS_INVALID") {
    return new CrosstalkError(
      "ERR_ADDRESS_INVALID",
      `Cannot ${verb} as ${from} (${sender.why}): ${error.message}`,
      { cause: error },
    );
  }
  if (error.code !== "ERR_FORBIDDEN") return error;
  const me = await api.call<Identity>("GET", "/api/whoami").catch(() => undefined);
  const self = me ? `"${me.subject}"` : "its own name";
  const Verb = `${verb[0]!.toUpperCase()}${verb.slice(1)}`;
  return new CrosstalkError(
    "ERR_FORBIDDEN",
    `Cannot ${verb} as ${from} (${sender.why}): this credential ${verb}s as ${self} only, and ` +
      `only an admin's token may ${verb} as someone else. ${Verb} as ${self} with --from ${
        me?.subject ?? "NAME"
      }${sender.source === "env" ? ", or unset CROSSTALK_FROM" : ""}`,
    { cause: error },
  );
}

/**
 * POSTs `body` to a task or badge route of the engine behind `api` as the sender `message send`
 * would use here ({@linkcode senderOf}): with its `from` when that is another name than the
 * credential's. A refusal of that name says where it came from ({@linkcode explainRefusal}).
 *
 * @throws {CrosstalkError} what the engine answers
 */
export async function postAs<T>(
  api: HttpClient,
  request: { path: string; body: Record<string, unknown> } & SenderOptions,
): Promise<T> {
  const sender = await senderOf(api, request);
  const body = sender.from === undefined ? request.body : { ...request.body, from: sender.from };
  try {
    return await api.call<T>("POST", request.path, body);
  } catch (error) {
    throw await explainRefusal(api, sender, error, { verb: "act" });
  }
}
