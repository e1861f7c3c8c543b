/**
 * The Claude Code side of approvals (engine/approvals.ts): the `PreToolUse` hook entry that runs
 * `crosstalk approval hook`, how it goes into Claude Code's settings, and what the hook answers.
 */
import { CrosstalkError } from "../schema/errors.ts";
import type { Approval } from "./approvals.ts";

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

/** Options for {@linkcode withApprovalHook}. */
export interface ApprovalHookOptions {
  /** The command line Claude Code runs (crosstalk's program, then `approval hook …`). */
  command: string;
  /** Which tools go to the bus (a Claude Code matcher); default `Bash|Write|Edit|MultiEdit`. */
  matcher?: string;
  /** Seconds Claude Code lets the hook wait; a little more than the hook's own wait. */
  timeoutSeconds: number;
}

/**
 * Claude Code's settings (the text of `settings.json`, undefined when there is none) with
 * crosstalk's `PreToolUse` hook, replacing an earlier one of crosstalk's and keeping every other
 * setting and hook.
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` when the settings are not a JSON object
 */
export function withApprovalHook(
  text: string | undefined,
  options: ApprovalHookOptions,
): string {
  const settings = parseSettings(text);
  const hooks = objectAt(settings, "hooks");
  const pre = (Array.isArray(hooks.PreToolUse) ? hooks.PreToolUse : []) as unknown[];
  hooks.PreToolUse = [
    ...withoutOurs(pre),
    {
      matcher: options.matcher ?? "Bash|Write|Edit|MultiEdit",
      hooks: [{ type: "command", command: options.command, timeout: options.timeoutSeconds }],
    },
  ];
  return `${JSON.stringify(settings, null, 2)}\n`;
}

/**
 * Claude Code's settings without crosstalk's hook; undefined when it had none (nothing to write).
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` when the settings are not a JSON object
 */
export function withoutApprovalHook(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const settings = parseSettings(text);
  const hooks = settings.hooks as Record<string, unknown> | undefined;
  if (!hooks || !Array.isArray(hooks.PreToolUse)) return undefined;
  const kept = withoutOurs(hooks.PreToolUse);
  if (JSON.stringify(kept) === JSON.stringify(hooks.PreToolUse)) return undefined;
  if (kept.length > 0) hooks.PreToolUse = kept;
  else delete hooks.PreToolUse;
  if (Object.keys(hooks).length === 0) delete settings.hooks;
  return `${JSON.stringify(settings, null, 2)}\n`;
}

/** Hook groups without crosstalk's command; a group left with no hook goes. */
function withoutOurs(groups: unknown[]): unknown[] {
  const kept: unknown[] = [];
  for (const group of groups) {
    const list = (group as { hooks?: unknown })?.hooks;
    if (!Array.isArray(list)) {
      kept.push(group);
      continue;
    }
    const others = list.filter((h) =>
      !String((h as { command?: unknown })?.command).includes(MARKER)
    );
    if (others.length === list.length) kept.push(group);
    else if (others.length > 0) kept.push({ ...(group as object), hooks: others });
  }
  return kept;
}

function parseSettings(text: string | undefined): Record<string, unknown> {
  if (text === undefined || text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CrosstalkError(
      "ERR_CONFIG_INVALID",
      `Cannot read Claude Code's settings: ${error instanceof Error ? error.message : error}`,
    );
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new CrosstalkError("ERR_CONFIG_INVALID", "Claude Code's settings are not a JSON object");
  }
  return value as Record<string, unknown>;
}

function objectAt(parent: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = parent[key];
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return value as Record<string, unknown>;
  }
  if (value !== undefined) {
    throw new CrosstalkError(
      "ERR_CONFIG_INVALID",
      `Claude Code's settings: ${key} is not an object`,
    );
  }
  const made: Record<string, unknown> = {};
  parent[key] = made;
  return made;
}
