// `crosstalk agent list | echo | install | uninstall`: agent CLIs here, the built-in echo agent,
// and the crosstalk MCP server in an agent CLI's own configuration. `agent add | edit | remove |
// enable | disable | start | panes | discover`: tmux panes registered under a name, which the engine
// types messages into (docs/LIVE.md, "Agents without MCP: tmux panes"). `agent peers`: everyone
// the engine knows of on the bus. `agent invite`: the text that teaches an agent the bus.
import { resolve } from "../transports/path.ts";
import { echoReply } from "../engine/echo.ts";
import { shellWord } from "../engine/which.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { currentSocket } from "../transports/tmux.ts";
import type {
  AgentCli,
  AgentInstallResult,
  ConfigEdit,
  InstallScope,
} from "../engine/agent_install.ts";
import { APPROVAL_WAIT_S } from "../engine/approval_hook.ts";
import type {
  TmuxAgentStart,
  TmuxAgentView,
  TmuxCandidate,
  TmuxCandidates,
} from "../engine/tmux_agents.ts";
import type { Peers } from "../engine/engine.ts";
import type { HttpClient } from "./_client.ts";
import { checkSessionFlags, type SessionFlags, withSessionOptions } from "./_session_options.ts";
import {
  type CliContext,
  Command,
  namesAnEngine,
  openBus,
  Option,
  parseSeconds,
  printJson,
  printTable,
  type TransportFlags,
  wholeNumber,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The `agent` noun. */
export function agentCommand(ctx: CliContext): Command {
  const agent = new Command("agent").description("agent CLIs, and tmux panes as agents");

  withJson(withTransportOptions(agent.command("list")))
    .description("installed agent CLIs, the models in the yaml, and which this machine claims")
    .action(async (flags: TransportFlags) => {
      type AgentReport = Awaited<ReturnType<typeof import("../engine/status.ts").agentReport>>;
      let report: AgentReport;
      if (namesAnEngine(ctx)) {
        // That engine's machine: what it has installed and claims, through its API.
        const { openApi } = await import("./_client.ts");
        report = await (await openApi(flags, ctx)).call<AgentReport>("GET", "/api/agents");
      } else {
        await using bus = await openBus(flags, ctx);
        const { agentReport } = await import("../engine/status.ts");
        report = await agentReport(bus, ctx.env);
      }
      if (flags.json) return printJson(ctx, report);
      ctx.out(
        `Installed agent CLIs: ${
          report.installed.length > 0
            ? report.installed.map((i) => `${i.name} (${i.path})`).join(", ")
            : "none"
        }\n\n`,
      );
      printTable(
        ctx,
        ["MODEL", "CLAIMED", "CLI", "COMMAND"],
        report.models.map((
          m,
        ) => [m.model, m.claimed ? "yes" : "no", m.path ?? `not found: ${m.reason}`, m.command]),
      );
    });

  agent.command("echo")
    .description("the built-in echo agent: replies with the text of the message it was sent")
    .argument("[prompt...]", "the prompt (as a dispatched CLI gets it); otherwise standard input")
    .action(async (words: string[]) => {
      const prompt = words.length > 0 ? words.join(" ") : (await ctx.readStdin()) ?? "";
      ctx.out(`${echoReply(prompt)}\n`);
    });

  const scope = () =>
    new Option(
      "--scope <scope>",
      "project: this folder's configuration (default; Codex has none); user: your own",
    ).choices(["project", "user"]);

  withSessionOptions(
    agent.command("install")
      .description("adds the crosstalk MCP server (crosstalk mcp) to an agent CLI's configuration")
      .argument("<cli>", "claude, codex, gemini, qwen or opencode")
      .option("--name <name>", "the agent's name on the bus (default: <cli>-<folder>)"),
  )
    .option("--path <dir>", "the server's transport directory (default: the built-in transport)")
    .option("--containername <name>", "the server's transport: a named one in the default storage")
    .addOption(scope())
    .option(
      "--approvals",
      "Claude Code only: also add the approval hook (as approval install) to its settings of the " +
        "same scope, so its tool use is put to the bus",
    )
    .option(
      "--wait <seconds>",
      `with --approvals: how long the hook waits for a person (default ${APPROVAL_WAIT_S})`,
      parseSeconds,
    )
    .option("--force", "replace a crosstalk entry that differs")
    .option("--dry-run", "print the file and its new content; write nothing")
    .action(async (cli: string, flags: InstallFlags) => {
      const agentCli = await agentCliOf(cli);
      if (flags.approvals && agentCli !== "claude") {
        throw new CrosstalkError(
          "ERR_USAGE",
          `--approvals needs Claude Code: only it has a hook that asks before a tool runs ` +
            `(PreToolUse), which crosstalk answers from the bus; ${agentCli} has none`,
        );
      }
      if (flags.wait !== undefined && !flags.approvals) {
        throw new CrosstalkError(
          "ERR_USAGE",
          "--wait goes with --approvals: it is how long the approval hook waits for a person",
        );
      }
      if (flags.name !== undefined) {
        const { isName } = await import("../transports/mod.ts");
        if (!isName(flags.name)) {
          throw new CrosstalkError(
            "ERR_ADDRESS_INVALID",
            `Invalid --name ${JSON.stringify(flags.name)}: use letters, digits, . _ - (at most 64)`,
          );
        }
      }
      await checkSessionFlags(flags);
      const { currentProgram } = await import("../engine/service.ts");
      const { installAgent, installApprovalHookFile, mcpServerEntry } = await import(
        "../engine/agent_install.ts"
      );
      const entry = mcpServerEntry(agentCli, {
        program: currentProgram(),
        name: flags.name,
        model: flags.model,
        role: flags.role,
        wake: flags.wake,
        allow: flags.allow,
        server: ctx.globals.server,
        profile: ctx.globals.profile,
      });
      // The sessions find this transport wherever the agent CLI starts them.
      if (flags.path !== undefined && flags.containername !== undefined) {
        throw new CrosstalkError("ERR_USAGE", "Use either --path or --containername, not both");
      }
      if (flags.path !== undefined) entry.args.push("--path", resolve(flags.path));
      if (flags.containername !== undefined) {
        entry.args.push("--containername", flags.containername);
      }
      const options = {
        scope: flags.scope,
        env: ctx.env,
        cwd: Deno.cwd(),
        force: flags.force ?? false,
        dryRun: flags.dryRun ?? false,
      };
      const hook = flags.approvals
        ? await (await import("./approval.ts")).hookOptions(flags, ctx)
        : undefined;
      // The settings are read and checked first: broken, they stop the install before anything
      // is written.
      if (hook) await installApprovalHookFile(hook, { ...options, dryRun: true });
      const result = await installAgent(agentCli, entry, options);
      const hooked = hook ? await installApprovalHookFile(hook, options) : undefined;
      if (flags.dryRun) {
        for (const edit of [result, hooked]) if (edit) printDryRun(ctx, edit);
        return;
      }
      const where = `${result.file.path} (${result.file.scope} scope)`;
      ctx.out(
        result.action === "unchanged"
          ? `crosstalk is already installed in ${where}\n`
          : `${
            result.action === "replace" ? "Replaced" : "Installed"
          } the crosstalk MCP server in ${where}\n`,
      );
      if (hooked) {
        ctx.out(
          hooked.action === "unchanged"
            ? `The approval hook is already installed in ${hooked.file.path}\n`
            : `Installed the approval hook in ${hooked.file.path}: Claude Code's tool use waits ` +
              `for a person on the bus (crosstalk approval, the web UI's Approvals)\n`,
        );
      }
      ctx.out(startHint(agentCli, result));
    });

  agent.command("uninstall")
    .description("removes the crosstalk MCP server from an agent CLI's configuration")
    .argument("<cli>", "claude, codex, gemini, qwen or opencode")
    .addOption(scope())
    .option("--dry-run", "print the file and its new content; write nothing")
    .action(async (cli: string, flags: InstallFlags) => {
      const agentCli = await agentCliOf(cli);
      const { uninstallAgent, uninstallApprovalHookFile } = await import(
        "../engine/agent_install.ts"
      );
      const options = {
        scope: flags.scope,
        env: ctx.env,
        cwd: Deno.cwd(),
        dryRun: flags.dryRun ?? false,
      };
      // Claude Code's approval hook goes too; its settings are checked before anything changes.
      if (agentCli === "claude") await uninstallApprovalHookFile({ ...options, dryRun: true });
      const result = await uninstallAgent(agentCli, options);
      const unhooked = agentCli === "claude" ? await uninstallApprovalHookFile(options) : undefined;
      if (flags.dryRun) {
        for (const edit of [result, unhooked]) if (edit) printDryRun(ctx, edit);
        return;
      }
      ctx.out(
        result.action === "absent"
          ? `crosstalk is not installed in ${result.file.path}\n`
          : `Removed the crosstalk MCP server from ${result.file.path}\n`,
      );
      if (unhooked?.action === "remove") {
        ctx.out(`Removed the approval hook from ${unhooked.file.path}\n`);
      }
    });

  tmuxCommands(agent, ctx);
  return agent;
}

/** The options of `agent add` and `agent edit`, as parsed. */
interface TmuxAgentFlags extends TransportFlags {
  tmux?: string;
  agent?: string;
  model?: string;
  role?: string;
  enterDelay?: number;
  marker?: string;
  maxChars?: number;
  socket?: string;
  revive?: string;
  /** `--no-revive` (edit). */
  noRevive?: boolean;
  cwd?: string;
  reviveTimeout?: number;
  reviveGrace?: number;
}

/**
 * The API fields these options give, and only those (`--no-revive`: `revive: null`).
 *
 * @throws {CrosstalkError} `ERR_USAGE` for `--revive` with `--no-revive`
 */
function tmuxAgentFields(flags: TmuxAgentFlags): Record<string, unknown> {
  if (flags.noRevive && flags.revive !== undefined) {
    throw new CrosstalkError("ERR_USAGE", "Give --revive COMMAND or --no-revive, not both");
  }
  const fields: Record<string, unknown> = {
    target: flags.tmux,
    agent: flags.agent,
    model: flags.model,
    role: flags.role,
    enter_delay_ms: flags.enterDelay,
    marker: flags.marker,
    max_chars: flags.maxChars,
    socket: flags.socket,
    revive: flags.noRevive ? null : flags.revive,
    cwd: flags.cwd,
    revive_timeout_ms: flags.reviveTimeout,
    revive_grace_ms: flags.reviveGrace,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/**
 * Adds the options `agent add` and `agent edit` share; their values are checked by the engine
 * (one set of rules for the CLI, the API and the registrations it loads), but for the numbers.
 */
function withTmuxAgentOptions(command: Command): Command {
  return command
    .option("--agent <cli>", "what runs in the pane (aider, grok, shell, …; default tmux)")
    .option("--model <model>", "the model the agent runs, shown to peers")
    .option("--role <role>", "shown to peers; tasks flagged for a role go to agents with it")
    .option(
      "--enter-delay <ms>",
      "pause between the paste and the Enter key, for slow TUIs (default 300)",
      msParser("--enter-delay", 0, 10_000),
    )
    .option(
      "--marker <text>",
      "put before every text typed, so the agent can tell the bus from its user (default " +
        '"[crosstalk]"; at most 40 characters; "" for none)',
    )
    .option(
      "--max-chars <n>",
      "the most characters typed for one message, marker included; the rest is pointed at " +
        "(default 4000; 200 to 100000, and at least 500 more than the marker)",
      wholeNumber("--max-chars"),
    )
    .option(
      "--revive <command>",
      "a shell command the engine runs in a new detached session named TARGET when a message " +
        "waits and the session is gone (TARGET must be a session name)",
    )
    .option(
      "--cwd <dir>",
      "with --revive: the absolute folder it runs in (default: the engine's workspace)",
    )
    .option(
      "--revive-timeout <ms>",
      "with --revive: how long the pane may take to be ready (default 30000)",
      msParser("--revive-timeout", 1000, 600_000),
    )
    .option(
      "--revive-grace <ms>",
      "with --revive: the pause after that, for the agent to start, before typing (default 5000)",
      msParser("--revive-grace", 0, 120_000),
    );
}

/** Where a tmux agent's messages go now, for a person. */
function whereTyped(view: TmuxAgentView): string {
  return `tmux ${view.target} (${
    view.up
      ? `pane ${view.pane}, up`
      : view.revivable
      ? "no such pane now: revived when a message waits"
      : "no such pane now: typed once it exists"
  })`;
}

/** `agent add | edit | remove | enable | disable | start | panes`: the engine's tmux agents, through its API. */
function tmuxCommands(agent: Command, ctx: CliContext): void {
  withTmuxAgentOptions(
    withJson(withTransportOptions(agent.command("add")))
      .description(
        "register a tmux pane under a name: the engine types each message to it into the pane",
      )
      .argument("<name>", "the agent's address on the bus")
      .option(
        "--tmux <target>",
        "a tmux session name (codex, codex:1.0) or pane id (%3); default inside tmux: this pane " +
          "(its session when it has this one pane, else its pane id)",
      )
      .option(
        "--socket <path>",
        "the tmux server's socket (default: the one of $TMUX when run inside tmux, else the engine's)",
      ),
  )
    .action(async (name: string, flags: TmuxAgentFlags) => {
      await checkName(name);
      const { herePaneTarget, tmuxHere } = await import("../engine/tmux_here.ts");
      let target = flags.tmux;
      if (target === undefined) {
        // This pane ($TMUX_PANE), on its own server: another --socket names another server.
        const here = tmuxHere(ctx.env);
        if (!here) {
          throw new CrosstalkError(
            "ERR_USAGE",
            `Give the pane to register with --tmux TARGET (a session name like aider, or a pane id like %3), or run "crosstalk agent add ${name}" inside that tmux pane`,
          );
        }
        if (flags.socket !== undefined && flags.socket !== here.socket) {
          throw new CrosstalkError(
            "ERR_USAGE",
            `Give --tmux TARGET with --socket ${flags.socket}: this pane (${here.pane}) is on the tmux server of $TMUX`,
          );
        }
        target = await herePaneTarget(here);
      }
      const socket = flags.socket ?? currentSocket(ctx.env);
      const api = await engineApi(flags, ctx);
      const added = await api.call<TmuxAgentView>("POST", "/api/tmux-agents", {
        name,
        ...tmuxAgentFields({
          ...flags,
          tmux: target,
          ...(socket === undefined ? {} : { socket }),
        }),
      });
      if (flags.json) return printJson(ctx, added);
      ctx.out(`Registered ${added.name}: messages to it are typed into ${whereTyped(added)}\n`);
    });

  withTmuxAgentOptions(
    withJson(withTransportOptions(agent.command("edit")))
      .description(
        "change a tmux agent's registration in place; its unread messages and enabled state stay",
      )
      .argument("<name>", "the agent's name")
      .option("--tmux <target>", "a new target: a tmux session name or pane id")
      .option("--socket <path>", "a new tmux server socket"),
  )
    .option("--no-revive", "drop its revive command (with its --cwd, timeout and grace)")
    .action(async (name: string, flags: TmuxAgentFlags) => {
      await checkName(name);
      const fields = tmuxAgentFields(flags);
      if (Object.keys(fields).length === 0) {
        throw new CrosstalkError(
          "ERR_USAGE",
          `Nothing to change in tmux agent "${name}": give at least one option (--tmux, --marker, --max-chars, --revive, …)`,
        );
      }
      const api = await engineApi(flags, ctx);
      const edited = await api.call<TmuxAgentView>("PATCH", `/api/tmux-agents/${name}`, fields);
      if (flags.json) return printJson(ctx, edited);
      ctx.out(
        `Changed ${edited.name}: messages to it are typed into ${whereTyped(edited)}${
          edited.enabled ? "" : "; it is disabled: nothing is typed until it is enabled"
        }\n`,
      );
    });

  withJson(withTransportOptions(agent.command("remove")))
    .description("unregister a tmux agent; its unread messages stay on the bus")
    .argument("<name>", "the agent's name")
    .action(async (name: string, flags: TransportFlags) => {
      await checkName(name);
      const api = await engineApi(flags, ctx);
      const { removed } = await api.call<{ removed: TmuxAgentView }>(
        "DELETE",
        `/api/tmux-agents/${name}`,
      );
      if (flags.json) return printJson(ctx, removed);
      ctx.out(`Removed ${removed.name} (tmux ${removed.target})\n`);
    });

  for (const verb of ["enable", "disable"] as const) {
    withJson(withTransportOptions(agent.command(verb)))
      .description(
        verb === "enable"
          ? "type into a tmux agent's pane again, what waits in its inbox first"
          : "stop typing into a tmux agent's pane; messages still reach its inbox",
      )
      .argument("<name>", "the agent's name")
      .action(async (name: string, flags: TransportFlags) => {
        await checkName(name);
        const api = await engineApi(flags, ctx);
        const view = await api.call<TmuxAgentView>("POST", `/api/tmux-agents/${name}/${verb}`);
        if (flags.json) return printJson(ctx, view);
        ctx.out(`${view.name} is ${view.enabled ? "enabled" : "disabled"}\n`);
      });
  }

  withJson(withTransportOptions(agent.command("start")))
    .description(
      "start a tmux agent's session now with its revive command, if its pane is down; " +
        "waits until it is up",
    )
    .argument("<name>", "the agent's name")
    .action(async (name: string, flags: TransportFlags) => {
      await checkName(name);
      const api = await engineApi(flags, ctx);
      const view = await api.call<TmuxAgentStart>("POST", `/api/tmux-agents/${name}/start`);
      if (flags.json) return printJson(ctx, view);
      const where = `tmux ${view.target}${view.pane ? `, pane ${view.pane}` : ""}`;
      ctx.out(
        view.started
          ? `Started ${view.name} (${where}): up\n`
          : `${view.name} is already running (${where}); nothing changed\n`,
      );
    });

  withTransportOptions(agent.command("invite"))
    .description(
      "print a text to paste into a running agent (one with a shell), telling it how to use the bus",
    )
    .argument("<name>", "the agent's name on the bus")
    .option("--channel <channel>", "where it should talk (default: general)")
    .action(async (name: string, flags: TransportFlags & { channel?: string }) => {
      const { isName } = await import("../transports/mod.ts");
      if (!isName(name)) {
        throw new CrosstalkError(
          "ERR_ADDRESS_INVALID",
          `Invalid name ${JSON.stringify(name)}: use letters, digits, . _ - (at most 64)`,
        );
      }
      ctx.out(inviteText(name, transportWords(flags), flags.channel));
    });

  discoverCommand(agent, ctx);
  peersCommand(agent, ctx);

  withJson(withTransportOptions(agent.command("panes")))
    .description(
      "the tmux agents of this machine's engine: target, pane up or down, unread, marker, cap, " +
        "revive command",
    )
    .action(async (flags: TransportFlags) => {
      const api = await engineApi(flags, ctx);
      const { agents } = await api.call<{ agents: TmuxAgentView[] }>("GET", "/api/tmux-agents");
      if (flags.json) return printJson(ctx, agents);
      if (agents.length === 0) {
        return ctx.err('No tmux agents (register one with "crosstalk agent add NAME --tmux T")\n');
      }
      printTable(
        ctx,
        ["NAME", "TARGET", "PANE", "ENABLED", "UNREAD", "AGENT", "MARKER", "MAX", "REVIVE"],
        agents.map((a) => [
          a.name,
          a.target,
          a.up ? `${a.pane} up` : "down",
          a.enabled ? "yes" : "no",
          String(a.unread),
          a.agent + (a.model ? `/${a.model}` : "") + (a.role ? ` (${a.role})` : ""),
          a.marker === "" ? "(none)" : a.marker,
          String(a.max_chars),
          a.revivable ? (a.revive ?? "yes") : "no",
        ]),
      );
    });
}

/**
 * `agent peers`: who the engine knows on every machine, one row each: live agents (sessions and
 * tmux panes), then models, then humans (`GET /api/peers`, as the MCP peers tool and the web UI).
 */
function peersCommand(agent: Command, ctx: CliContext): void {
  withJson(withTransportOptions(agent.command("peers")))
    .description(
      "everyone on the bus, on every machine: live agents (sessions and tmux panes) with their " +
        "CLI, model, role, machine, status and folder; then the models and where they run; then " +
        "the humans",
    )
    .action(async (flags: TransportFlags) => {
      const api = await engineApi(flags, ctx);
      const peers = await api.call<Peers>("GET", "/api/peers");
      if (flags.json) return printJson(ctx, peers);
      printTable(ctx, ["NAME", "KIND", "AGENT", "MODEL", "ROLE", "MACHINE", "STATUS", "FOLDER"], [
        ...peers.agents.map((a) => [
          a.name,
          a.kind === "pane" ? "pane" : "session",
          a.agent,
          a.model ?? "-",
          a.role ?? "-",
          a.machine,
          !a.online ? "offline" : a.status === "available" ? "online" : `online (${a.status})`,
          a.cwd ?? "-",
        ]),
        ...peers.models.map((m) => [
          m.model,
          "model",
          "-",
          "-",
          "-",
          m.machines.length > 0 ? m.machines.join(",") : "-",
          // Online: an engine claims it, so a message to it runs now; else it waits for one.
          m.machines.length > 0 ? "online" : "offline",
          "-",
        ]),
        ...peers.humans.map((h) => [h, "human", "-", "-", "-", "-", "-", "-"]),
      ]);
    });
}

/** The options of `agent discover`, as parsed. */
interface DiscoverFlags extends TransportFlags {
  socket?: string;
  add?: boolean;
}

/** `agent discover [--add]`: the panes of a tmux server, proposed as tmux agents, or registered. */
function discoverCommand(agent: Command, ctx: CliContext): void {
  withJson(withTransportOptions(agent.command("discover")))
    .description(
      "propose a tmux agent for each pane of the tmux server that runs (name, target, guessed " +
        "agent CLI) with the agent add line for it; --add registers them",
    )
    .option(
      "--socket <path>",
      "the tmux server's socket (default: the one of $TMUX when run inside tmux, else the engine's)",
    )
    .option("--add", "register every free pane under its proposed name (agent add for each)")
    .action(async (flags: DiscoverFlags) => {
      const inside = currentSocket(ctx.env);
      const socket = flags.socket ?? inside;
      // $TMUX_PANE is a pane of the server of $TMUX: the user's own shell, never proposed.
      const own = socket === inside ? ctx.env.TMUX_PANE : undefined;
      const query = new URLSearchParams({
        ...(socket === undefined ? {} : { socket }),
        ...(own ? { own } : {}),
      });
      const api = await engineApi(flags, ctx);
      const found = await api.call<TmuxCandidates>(
        "GET",
        `/api/tmux-agents/candidates${query.size > 0 ? `?${query}` : ""}`,
      );
      const free = found.candidates.filter((c) => c.name !== null);
      if (!flags.add) {
        if (flags.json) return printJson(ctx, found);
        printCandidates(ctx, found, flags);
        return;
      }
      const added: TmuxAgentView[] = [];
      const failed: { name: string; target: string; error: { code: string; message: string } }[] =
        [];
      for (const candidate of free) {
        try {
          const view = await api.call<TmuxAgentView>("POST", "/api/tmux-agents", {
            name: candidate.name,
            target: candidate.target,
            agent: candidate.agent,
            ...(found.socket === null ? {} : { socket: found.socket }),
          });
          added.push(view);
          if (!flags.json) {
            ctx.out(`Registered ${view.name}: messages to it are typed into ${whereTyped(view)}\n`);
          }
        } catch (error) {
          const code = error instanceof CrosstalkError ? error.code : "ERR_SERVICE_FAILED";
          const message = error instanceof Error ? error.message : String(error);
          failed.push({
            name: candidate.name!,
            target: candidate.target,
            error: { code, message },
          });
          if (!flags.json) {
            ctx.err(`Cannot register ${candidate.name} (tmux ${candidate.target}): ${message}\n`);
          }
        }
      }
      // One failure does not stop the others, but the run says it failed.
      if (failed.length > 0) ctx.exitCode = 1;
      if (flags.json) return printJson(ctx, { ...found, added, failed });
      for (const candidate of found.candidates) {
        if (candidate.name !== null) continue;
        ctx.out(
          `Skipped ${candidate.target} (pane ${candidate.pane}, ${candidate.command}): ${
            skipReason(candidate)
          }\n`,
        );
      }
      if (found.candidates.length === 0) ctx.err(`${noPanes(found)}\n`);
      else if (free.length === 0) ctx.out("No free pane to register\n");
    });
}

/** The table of `agent discover`, and the `agent add` line of each free pane. */
function printCandidates(ctx: CliContext, found: TmuxCandidates, flags: TransportFlags): void {
  if (found.candidates.length === 0) {
    ctx.err(`${noPanes(found)}\n`);
    return;
  }
  printTable(
    ctx,
    ["NAME", "TARGET", "PANE", "AGENT", "COMMAND", "FOLDER"],
    found.candidates.map((c) => [
      c.name ?? `(${skipReason(c)})`,
      c.target,
      c.pane,
      c.agent,
      c.command,
      c.folder,
    ]),
  );
  const free = found.candidates.filter((c) => c.name !== null);
  if (free.length === 0) {
    ctx.out("\nNo free pane to register\n");
    return;
  }
  const globals = [
    ...(ctx.globals.server === undefined ? [] : [`--server ${shellWord(ctx.globals.server)}`]),
    ...(ctx.globals.profile === undefined ? [] : [`--profile ${shellWord(ctx.globals.profile)}`]),
  ].map((g) => ` ${g}`).join("");
  ctx.out(
    `\nTo register ${
      free.length === 1 ? "it" : "each"
    } (or all at once: run this again with --add):\n`,
  );
  for (const c of free) {
    const words = [
      `crosstalk${globals} agent add ${shellWord(c.name!)} --tmux ${shellWord(c.target)}`,
      ...(c.agent === "tmux" ? [] : [`--agent ${shellWord(c.agent)}`]),
      ...(found.socket === null ? [] : [`--socket ${shellWord(found.socket)}`]),
    ];
    ctx.out(`  ${words.join(" ")}${transportWords(flags)}\n`);
  }
}

/** Why a pane is not proposed, for a person. */
function skipReason(candidate: TmuxCandidate): string {
  if (candidate.taken?.by === "tmux-agent") return `registered: ${candidate.taken.name}`;
  if (candidate.taken) return `live session: ${candidate.taken.name}`;
  if (candidate.own) return "your own pane";
  return "dead";
}

/** What is said when the server has no panes. */
function noPanes(found: TmuxCandidates): string {
  return `No tmux panes: no tmux server runs on ${
    found.socket === null ? "the engine's default socket" : found.socket
  }`;
}

/** The engine's API (the tmux agents are the engine's); loaded only by the commands that use it. */
async function engineApi(flags: TransportFlags, ctx: CliContext): Promise<HttpClient> {
  const { openApi } = await import("./_client.ts");
  return await openApi(flags, ctx);
}

/** Refuses a name no agent may have before anything is sent (`..` must not become a path). */
async function checkName(name: string): Promise<void> {
  const { isLiveName } = await import("../engine/live.ts");
  if (!isLiveName(name)) {
    throw new CrosstalkError(
      "ERR_ADDRESS_INVALID",
      `Invalid agent name ${
        JSON.stringify(name)
      } (1 to 56 letters, digits, . _ -, starting with a letter or digit; not all, workflow, here, me)`,
    );
  }
}

/** A parser of a whole number of milliseconds from `min` to `max`, for the option `flag`. */
function msParser(flag: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d{1,6}$/.test(value) || n < min || n > max) {
      throw new CrosstalkError(
        "ERR_USAGE",
        `Invalid ${flag} ${JSON.stringify(value)}: whole milliseconds from ${min} to ${max}`,
      );
    }
    return n;
  };
}

interface InstallFlags extends SessionFlags {
  name?: string;
  path?: string;
  containername?: string;
  scope?: InstallScope;
  force?: boolean;
  dryRun?: boolean;
  approvals?: boolean;
  wait?: number;
}

async function agentCliOf(cli: string): Promise<AgentCli> {
  const { AGENT_CLIS } = await import("../engine/agent_install.ts");
  if ((AGENT_CLIS as readonly string[]).includes(cli)) return cli as AgentCli;
  throw new CrosstalkError(
    "ERR_USAGE",
    `Unknown agent CLI ${JSON.stringify(cli)}: use claude, codex, gemini, qwen or opencode`,
  );
}

/** With --dry-run, prints the file and what it would hold, or that it stays as it is. */
function printDryRun(ctx: CliContext, result: ConfigEdit & { file: { path: string } }): void {
  if (result.action === "unchanged" || result.action === "absent") {
    ctx.out(`Would leave ${result.file.path} as it is\n`);
    return;
  }
  const text = result.text ?? "";
  ctx.out(`Would write ${result.file.path}:\n${text}${text.endsWith("\n") ? "" : "\n"}`);
}

/** How to start the agent so that it loads the server just installed. */
function startHint(agent: AgentCli, result: AgentInstallResult): string {
  const here = result.file.scope === "project" ? " in this folder" : "";
  switch (agent) {
    case "claude":
      return `Start Claude Code${here} with new messages pushed into the session:\n` +
        `  claude --dangerously-load-development-channels server:crosstalk\n` +
        `(plain \`claude\` works too: the session then reads and waits for messages with its tools)\n`;
    case "codex":
      return `Start Codex${here}:\n  codex\n`;
    case "gemini":
      return `Start Gemini CLI${here}:\n  gemini\n`;
    case "qwen":
      return `Start Qwen Code${here}:\n  qwen\n`;
    case "opencode":
      // opencode has no channel push; `crosstalk mcp` wakes by tmux when it runs in a pane.
      return `Start opencode${here}:\n  opencode\n` +
        `(inside tmux new messages are typed into its pane; otherwise the session reads and waits ` +
        `for messages with its tools)\n`;
  }
}

/** How a shell here names the transport these flags chose: nothing for the default one. */
function transportWords(flags: TransportFlags): string {
  if (flags.containername !== undefined) {
    return ` --containername ${shellWord(flags.containername)}`;
  }
  if (flags.path !== undefined) return ` --path ${shellWord(resolve(flags.path))}`;
  return "";
}

/**
 * The text a person pastes into a running agent that has a shell but no crosstalk MCP server: its
 * name on the bus, and the commands that read, send and answer, with this transport named.
 */
export function inviteText(name: string, transport: string, channel?: string): string {
  const where = channel === undefined ? "" : ` --channel ${shellWord(channel)}`;
  return [
    `You are "${name}" on crosstalk, a message bus shared with other agents and people.`,
    `Use these shell commands (keep messages short; never reply only to acknowledge; a message`,
    `marked [no-reply] needs no answer):`,
    `- read the latest messages: crosstalk message list${transport}${where} --full --last 20`,
    `- send: crosstalk message send${transport}${where} --from ${name} --to NAME "text"`,
    `  (NAME: a person, an agent, a model, "here" for every live agent; add --re ID to answer a`,
    `  message, ID being what its "id:" line says)`,
    `- see one message whole: crosstalk message show${transport} ID`,
    `Say hello now: send one line to "here" with what you work on.`,
    "",
  ].join("\n");
}
