// What a live agent session says of itself on the `crosstalk mcp` command line (--model, --role,
// --wake, --allow), as `chat` and `agent install` take them to pass on: checked here, where the
// user typed them, rather than when the agent CLI starts the server.
import { CrosstalkError } from "../schema/errors.ts";
import { type Command, Option } from "./_context.ts";

/** The wakes a session can be given on its command line (a webhook needs its URL and secret). */
export const SESSION_WAKES = ["channel", "tmux", "pull"] as const;

/** The options of {@linkcode withSessionOptions}, as parsed. */
export interface SessionFlags {
  model?: string;
  role?: string;
  wake?: typeof SESSION_WAKES[number];
  allow?: string[];
}

/** Adds `--model`, `--role`, `--wake` and `--allow` for `crosstalk mcp` to a command. */
export function withSessionOptions(command: Command): Command {
  return command
    .option("--model <model>", "the model the agent runs, shown to peers")
    .option(
      "--role <role>",
      "what the agent does: shown to peers, and tasks flagged for a role go to agents with it",
    )
    .addOption(
      new Option(
        "--wake <how>",
        "how new messages wake it: channel (Claude Code's push), tmux (typed into its pane), " +
          "pull (it reads and waits with its tools); default: channel for Claude Code, tmux " +
          "inside tmux, else pull",
      ).choices(SESSION_WAKES),
    )
    .option(
      "--allow <names>",
      "who may wake the agent, comma-separated or repeated (default: every user, model and agent " +
        "of the transport)",
      collectNames,
    );
}

/** A parser that gathers comma-separated values, repeated or not, without blanks. */
export function collectNames(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(",").map((v) => v.trim()).filter((v) => v !== "")];
}

/**
 * Checks the options of {@linkcode withSessionOptions} as `crosstalk mcp` and the engine would.
 *
 * @throws {CrosstalkError} `ERR_USAGE` naming the option and what is wrong with it
 */
export async function checkSessionFlags(flags: SessionFlags): Promise<void> {
  const { checkLiveLabel } = await import("../engine/live.ts");
  const { tryParseAddress } = await import("../transports/names.ts");
  if (flags.model !== undefined) {
    checkLiveLabel("model", flags.model, { code: "ERR_USAGE", label: "--model" });
  }
  if (flags.role !== undefined) {
    checkLiveLabel("role", flags.role, { code: "ERR_USAGE", label: "--role" });
  }
  if (flags.allow !== undefined) {
    if (flags.allow.length === 0) {
      throw new CrosstalkError("ERR_USAGE", "--allow needs at least one name");
    }
    for (const name of flags.allow) {
      if (name !== "*" && !tryParseAddress(name)) {
        throw new CrosstalkError(
          "ERR_USAGE",
          `Invalid --allow ${
            JSON.stringify(name)
          }: a name, provider/model or either with @alias (names: letters, digits, . _ -), or *`,
        );
      }
    }
  }
}
