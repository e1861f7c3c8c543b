// Who a message sent through an engine is from, and who a task or badge step there acts as (`task
// flag|claim|resolve`, `message badge`), and why (`crosstalk whoami` says it), first match:
//   1. `--from NAME`;
//   2. in an agent CLI the engine runs (its CROSSTALK_API and CROSSTALK_TOKEN set): the
//      credential's own name, the run's model with the run's token; nothing below applies there
//      (the run inherits the engine's environment, its CROSSTALK_FROM and tmux pane included);
//   3. `$CROSSTALK_FROM`;
//   4. the tmux agent of this engine registered for the pane the command runs in (`$TMUX_PANE`);
//   5. the credential's own name: the local engine's admin, or the user of a saved login.
// Only a token that may send as someone else (an admin's) can send as another name than its own:
// the engine refuses the rest, and the CLI then says where the name came from.
import type { Env } from "../engine/paths.ts";
import type { TmuxAgentView } from "../engine/tmux_agents.ts";
import type { TmuxHere } from "../engine/tmux_here.ts";
import type { Identity } from "../engine/auth.ts";
import { CrosstalkError } from "../schema/errors.ts";
import type { HttpClient } from "./_client.ts";

/** `--from` of the task verbs and `message badge`: who they act as, as `message send --from`. */
export const ACT_FROM_HELP =
  "act as this name (default: $CROSSTALK_FROM, else this tmux pane's agent, else you; see whoami)";

/** Where a sender's name comes from. */
export type SenderSource = "flag" | "run" | "env" | "pane" | "credential";

/** Who a send speaks as. */
export interface Sender {
  /** The `from` to send with; undefined: the credential's own name. */
  from: string | undefined;
  source: SenderSource;
  /** Why, for a person. */
  why: string;
}

/**
 * The sender of a message sent through `api` (see the rules above), `flag` being `--from`.
 *
 * @throws {CrosstalkError} what the engine answers when its tmux agents cannot be listed for
 *   another reason than having none (no engine behind the API, a token that may not list them)
 */
export async function senderOf(
  api: HttpClient,
  flag: string | undefined,
  env: Env,
): Promise<Sender> {
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

/** The tmux agent the engine behind `api` has for the pane `here`, if any. */
async function paneAgentOf(
  api: HttpClient,
  here: TmuxHere,
): Promise<TmuxAgentView | undefined> {
  let agents: TmuxAgentView[];
  try {
    ({ agents } = await api.call<{ agents: TmuxAgentView[] }>("GET", "/api/tmux-agents"));
  } catch (error) {
    // No engine behind the API (no tmux agents), or a token that may not list them: no pane agent.
    if (
      error instanceof CrosstalkError &&
      (error.code === "ERR_ROUTE_NOT_FOUND" || error.code === "ERR_FORBIDDEN")
    ) {
      return undefined;
    }
    throw error;
  }
  if (!agents.some((a) => a.pane === here.pane)) return undefined;
  const { paneAgent } = await import("../engine/tmux_here.ts");
  return await paneAgent(here, agents);
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
    (sender.source !== "env" && sender.source !== "pane")
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
 * would use here ({@linkcode senderOf}, `flag` being `--from`): with its `from` when that is
 * another name than the credential's. A refusal of that name says where it came from
 * ({@linkcode explainRefusal}).
 *
 * @throws {CrosstalkError} what the engine answers
 */
export async function postAs<T>(
  api: HttpClient,
  request: { path: string; body: Record<string, unknown>; flag: string | undefined; env: Env },
): Promise<T> {
  const sender = await senderOf(api, request.flag, request.env);
  const body = sender.from === undefined ? request.body : { ...request.body, from: sender.from };
  try {
    return await api.call<T>("POST", request.path, body);
  } catch (error) {
    throw await explainRefusal(api, sender, error, { verb: "act" });
  }
}
