// `crosstalk approval list | allow | deny | hook | install | uninstall`: an agent's tool use put to
// the people on the bus (docs/LIVE.md, "Approvals").
import { resolve } from "../transports/path.ts";
import { CrosstalkError, errorText } from "../schema/errors.ts";
import type { Approval } from "../engine/approvals.ts";
import {
  APPROVAL_WAIT_S,
  type ApprovalHookOptions,
  approvalHookOptions,
  hookOutput,
  parseHookInput,
} from "../engine/approval_hook.ts";
import { type HttpClient, openApi } from "./_client.ts";
import {
  type CliContext,
  Command,
  locationOf,
  Option,
  parseSeconds,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The longest long-poll the API takes. */
const POLL_S = 300;

interface InstallFlags extends TransportFlags {
  scope?: "project" | "user";
  matcher?: string;
  wait?: number;
}

/** The `approval` noun. */
export function approvalCommand(ctx: CliContext): Command {
  const approval = new Command("approval").description(
    "tool use that agent sessions ask the people on the bus to allow",
  );

  withJson(withTransportOptions(approval.command("list")))
    .description("approvals waiting for a decision (--all: the decided ones of the last hour too)")
    .option("--all", "decided and expired ones too")
    .action(async (flags: TransportFlags & { all?: boolean }) => {
      const api = await openApi(flags, ctx);
      const { approvals } = await api.call<{ approvals: Approval[] }>(
        "GET",
        `/api/approvals?state=${flags.all ? "all" : "pending"}`,
      );
      if (flags.json) return printJson(ctx, approvals);
      if (approvals.length === 0) return ctx.err("No approvals waiting\n");
      printTable(
        ctx,
        ["ID", "STATE", "AGENT", "TOOL", "INPUT", "CWD"],
        approvals.map((a) => [
          a.id.slice(0, 8),
          a.state + (a.decidedBy ? ` by ${a.decidedBy}` : ""),
          a.name ?? a.agent,
          a.tool,
          preview(a.input),
          a.cwd ?? "",
        ]),
      );
    });

  for (const verb of ["allow", "deny"] as const) {
    withJson(withTransportOptions(approval.command(verb)))
      .description(`${verb} a tool use an agent asked for`)
      .argument("<id>", "the approval's id, or a unique prefix of it")
      .option("--reason <text>", "said to the agent (with deny)")
      .action(async (id: string, flags: TransportFlags & { reason?: string }) => {
        const api = await openApi(flags, ctx);
        const full = await resolveId(api, id);
        const decided = await api.call<Approval>("POST", `/api/approvals/${full}`, {
          decision: verb,
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
        if (flags.json) return printJson(ctx, decided);
        ctx.out(`${decided.state}: ${decided.tool} ${preview(decided.input)}\n`);
      });
  }

  withTransportOptions(approval.command("hook"))
    .description(
      "Claude Code's PreToolUse hook: asks the bus, prints the decision (nothing without one)",
    )
    .option(
      "--wait <seconds>",
      `how long to wait for a person (default ${APPROVAL_WAIT_S})`,
      parseSeconds,
    )
    .action(async (flags: TransportFlags & { wait?: number }) => {
      // Whatever goes wrong, the agent CLI must not be stopped by it: no output means "ask in
      // the terminal as usual", and the reason goes to stderr.
      try {
        const input = parseHookInput((await ctx.readStdin()) ?? "");
        const api = await openApi(flags, ctx);
        const { localSession } = await import("../engine/local_sessions.ts");
        const name = (await localSession(locationOf(flags, ctx).stateDir))?.session.name;
        // The engine keeps a request an hour at most.
        const waitSeconds = Math.min(3600, Math.max(1, Math.round(flags.wait ?? APPROVAL_WAIT_S)));
        let approval = await api.call<Approval>("POST", "/api/approvals", {
          agent: "claude",
          // Past it nobody waits: the request expires then, and a late decision is refused.
          wait_seconds: waitSeconds,
          tool: input.tool_name,
          input: input.tool_input ?? null,
          ...(name ? { name } : {}),
          ...(input.cwd ? { cwd: input.cwd } : {}),
          ...(input.session_id ? { session: input.session_id } : {}),
        });
        const until = Date.now() + waitSeconds * 1000;
        while (approval.state === "pending" && Date.now() < until) {
          const wait = Math.min(POLL_S, Math.ceil((until - Date.now()) / 1000));
          approval = await api.call<Approval>("GET", `/api/approvals/${approval.id}?wait=${wait}`);
        }
        const output = hookOutput(approval);
        if (output) ctx.out(`${output}\n`);
        else ctx.err(`crosstalk: no decision on the bus (${approval.state}); asking here\n`);
      } catch (error) {
        ctx.err(`crosstalk: cannot ask the bus (${errorText(error)}); asking here\n`);
      }
    });

  withTransportOptions(approval.command("install"))
    .description("add the hook to Claude Code's settings, so its tool use is put to the bus")
    .addOption(scopeOption())
    .option(
      "--matcher <tools>",
      "which tools (a Claude Code matcher; default Bash|Write|Edit|MultiEdit)",
    )
    .option(
      "--wait <seconds>",
      `how long the hook waits for a person (default ${APPROVAL_WAIT_S})`,
      parseSeconds,
    )
    .action(async (flags: InstallFlags) => {
      const { installApprovalHookFile } = await import("../engine/agent_install.ts");
      const result = await installApprovalHookFile(await hookOptions(flags, ctx), {
        scope: flags.scope,
        env: ctx.env,
        cwd: Deno.cwd(),
      });
      ctx.out(
        result.action === "unchanged"
          ? `The approval hook is already installed in ${result.file.path}\n`
          : `Installed the approval hook in ${result.file.path}\n`,
      );
    });

  withTransportOptions(approval.command("uninstall"))
    .description("take the hook out of Claude Code's settings, and nothing else")
    .addOption(scopeOption())
    .action(async (flags: InstallFlags) => {
      const { uninstallApprovalHookFile } = await import("../engine/agent_install.ts");
      const result = await uninstallApprovalHookFile({
        scope: flags.scope,
        env: ctx.env,
        cwd: Deno.cwd(),
      });
      ctx.out(
        result.action === "absent"
          ? `No approval hook in ${result.file.path}\n`
          : `Removed the approval hook from ${result.file.path}\n`,
      );
    });
  return approval;
}

function scopeOption(): Option {
  return new Option("--scope <scope>", "project (.claude/settings.json here) or user")
    .choices(["project", "user"]);
}

/**
 * The hook for these flags: this crosstalk, asking the engine (`--server`, `--profile`) or the
 * transport it was installed for.
 */
export async function hookOptions(
  flags: TransportFlags & { wait?: number; matcher?: string },
  ctx: CliContext,
): Promise<ApprovalHookOptions> {
  const { currentProgram } = await import("../engine/service.ts");
  return approvalHookOptions(currentProgram(), {
    wait: flags.wait,
    matcher: flags.matcher,
    server: ctx.globals.server,
    profile: ctx.globals.profile,
    path: flags.path === undefined ? undefined : resolve(Deno.cwd(), flags.path),
    containername: flags.containername,
    state: flags.state === undefined ? undefined : resolve(Deno.cwd(), flags.state),
  });
}

async function resolveId(api: HttpClient, id: string): Promise<string> {
  if (/^[0-9a-f-]{36}$/.test(id)) return id;
  const { approvals } = await api.call<{ approvals: Approval[] }>(
    "GET",
    "/api/approvals?state=all",
  );
  const found = approvals.filter((a) => a.id.startsWith(id));
  if (found.length === 1) return found[0]!.id;
  throw new CrosstalkError(
    found.length === 0 ? "ERR_ROUTE_NOT_FOUND" : "ERR_USAGE",
    found.length === 0 ? `No approval "${id}"` : `"${id}" names ${found.length} approvals`,
  );
}

function preview(input: unknown): string {
  const text = typeof input === "object" && input !== null && "command" in input
    ? String((input as { command: unknown }).command)
    : JSON.stringify(input) ?? "";
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
