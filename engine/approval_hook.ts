/**
 * The Claude Code side of approvals (engine/approvals.ts): the `PreToolUse` hook entry that runs
 * `crosstalk approval hook`, and what the hook answers. engine/agent_install.ts puts the entry
 * into Claude Code's settings.
 */
import { CrosstalkError } from "../schema/errors.ts";
import type { Approval } from "./approvals.ts";
import type { EngineProgram } from "./service.ts";
import { shellWord } from "./which.ts";

/** What Claude Code gives a `PreToolUse` hook on stdin (the fields crosstalk uses). */
export interface PreToolUseInput {
  session_id?: string;
  cwd?: string;
  hook_event_name?: string;
  tool_name: string;
  tool_input?: unknown;
}

/** The marker by which crosstalk finds its own hook among the others. */
const MARKER = "approval hook";

/**
 * Parses the hook's stdin.
 *
 * @throws {CrosstalkError} `ERR_BODY_INVALID` naming what is missing
 */
export function parseHookInput(text: string): PreToolUseInput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CrosstalkError("ERR_BODY_INVALID", "The hook's input is not JSON");
  }
  const input = value as Partial<PreToolUseInput> | null;
  if (!input || typeof input !== "object" || typeof input.tool_name !== "string") {
    throw new CrosstalkError("ERR_BODY_INVALID", "The hook's input has no tool_name");
  }
  return input as PreToolUseInput;
}

/**
 * The hook's answer to Claude Code for a decided approval; undefined (print nothing: Claude Code
 * asks in its terminal as usual) while it is pending or once it expired.
 */
export function hookOutput(approval: Approval): string | undefined {
  if (approval.state !== "allowed" && approval.state !== "denied") return undefined;
  const who = approval.decidedBy ?? "someone";
  const reason = approval.state === "allowed"
    ? `Allowed by ${who} on the crosstalk bus`
    : `Denied by ${who} on the crosstalk bus${approval.reason ? `: ${approval.reason}` : ""}`;
  return JSON.stringify({
    hookSpecificOutput: {
      hookEventName: "PreToolUse",
      permissionDecision: approval.state === "allowed" ? "allow" : "deny",
      permissionDecisionReason: reason,
    },
  });
}

/** How long the hook waits for a person by default, in seconds. */
export const APPROVAL_WAIT_S = 120;

/** Options for {@linkcode approvalHook}. */
export interface ApprovalHookOptions {
  /** The command line Claude Code runs (crosstalk's program, then `approval hook …`). */
  command: string;
  /** Which tools go to the bus (a Claude Code matcher); default `Bash|Write|Edit|MultiEdit`. */
  matcher?: string;
  /** Seconds Claude Code lets the hook wait; a little more than the hook's own wait. */
  timeoutSeconds: number;
}

/** The `PreToolUse` hook group that runs crosstalk's hook, as it goes into Claude Code's settings. */
export function approvalHook(options: ApprovalHookOptions): Record<string, unknown> {
  return {
    matcher: options.matcher ?? "Bash|Write|Edit|MultiEdit",
    hooks: [{ type: "command", command: options.command, timeout: options.timeoutSeconds }],
  };
}

/** Options for {@linkcode approvalHookOptions}. */
export interface ApprovalHookCommandOptions {
  /** Seconds the hook waits for a person; default {@linkcode APPROVAL_WAIT_S}. */
  wait?: number | undefined;
  /** Which tools (a Claude Code matcher). */
  matcher?: string | undefined;
  /** The global `--server URL` and `--profile NAME`, passed on. */
  server?: string | undefined;
  profile?: string | undefined;
  /** The transport (`--path`, `--state` absolute; `--containername`), passed on. */
  path?: string | undefined;
  containername?: string | undefined;
  state?: string | undefined;
}

/**
 * The hook of `program` (this crosstalk) asking the engine (`--server`, `--profile`) or the
 * transport it was installed for, as one shell-quoted command line; Claude Code lets it run 30 s
 * longer than it waits.
 */
export function approvalHookOptions(
  program: EngineProgram,
  options: ApprovalHookCommandOptions,
): ApprovalHookOptions {
  const wait = options.wait ?? APPROVAL_WAIT_S;
  const args = [program.execPath, ...program.args, "approval", "hook", "--wait", String(wait)];
  if (options.server !== undefined) args.push("--server", options.server);
  if (options.profile !== undefined) args.push("--profile", options.profile);
  if (options.path !== undefined) args.push("--path", options.path);
  if (options.containername !== undefined) args.push("--containername", options.containername);
  if (options.state !== undefined) args.push("--state", options.state);
  return {
    command: args.map(shellWord).join(" "),
    ...(options.matcher === undefined ? {} : { matcher: options.matcher }),
    timeoutSeconds: Math.ceil(wait) + 30,
  };
}

/** True for the hook entry (inside a group's `hooks`) that runs crosstalk's hook. */
export function isApprovalHook(hook: unknown): boolean {
  return String((hook as { command?: unknown } | null)?.command).includes(MARKER);
}

/**
 * `PreToolUse` hook groups without crosstalk's hook; a group left with no hook goes. What an edit
 * of the settings (engine/agent_install.ts) must come to.
 */
export function withoutApprovalHooks(groups: unknown[]): unknown[] {
  const kept: unknown[] = [];
  for (const group of groups) {
    const list = (group as { hooks?: unknown } | null)?.hooks;
    if (!Array.isArray(list)) {
      kept.push(group);
      continue;
    }
    const others = list.filter((h) => !isApprovalHook(h));
    if (others.length === list.length) kept.push(group);
    else if (others.length > 0) kept.push({ ...(group as object), hooks: others });
  }
  return kept;
}
