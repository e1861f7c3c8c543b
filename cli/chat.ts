// `crosstalk chat claude|codex|opencode|gemini|qwen [-- ARGS…]`: an interactive agent session that is on the bus.
import { CrosstalkError } from "../schema/errors.ts";
import { isName } from "../transports/names.ts";
import { openApi } from "./_client.ts";
import { checkSessionFlags, type SessionFlags, withSessionOptions } from "./_session_options.ts";
import { join } from "../transports/path.ts";
import {
  type CliContext,
  Command,
  locationOf,
  type TransportFlags,
  withTransportOptions,
} from "./_context.ts";

interface ChatFlags extends TransportFlags, SessionFlags {
  name?: string;
  /** `--no-start`: never start an engine. */
  noStart?: boolean;
}

/** The `chat` command. */
export function chatCommand(ctx: CliContext): Command {
  return withSessionOptions(
    withTransportOptions(new Command("chat"))
      .description(
        "start an agent CLI (claude, codex, opencode, gemini or qwen) in this terminal as a live agent on the bus, with the crosstalk MCP server for this session only",
      )
      .argument("<cli>", "claude, codex, opencode, gemini or qwen")
      .argument("[args...]", "after --: more arguments for the agent CLI")
      .option("--name <name>", "the agent's name on the bus (default: <cli>-<folder>)"),
  )
    .option("--no-start", "with no engine running, fail instead of starting one in the background")
    .action(async (cli: string, args: string[], flags: ChatFlags) => {
      const { AGENT_CLIS, mcpServerEntry } = await import("../engine/agent_install.ts");
      if (!(AGENT_CLIS as readonly string[]).includes(cli)) {
        throw new CrosstalkError(
          "ERR_USAGE",
          `Unknown agent CLI ${JSON.stringify(cli)}: use claude, codex, opencode, gemini or qwen`,
        );
      }
      if (flags.name !== undefined && !isName(flags.name)) {
        throw new CrosstalkError(
          "ERR_ADDRESS_INVALID",
          `Invalid --name ${JSON.stringify(flags.name)}: use letters, digits, . _ - (at most 64)`,
        );
      }
      await checkSessionFlags(flags);
      const { currentProgram } = await import("../engine/service.ts");
      const { chatLaunch, systemDefaultsPath } = await import("../engine/agent_chat.ts");
      const agent = cli as typeof AGENT_CLIS[number];
      const entry = mcpServerEntry(agent, {
        program: currentProgram(),
        name: flags.name,
        model: flags.model,
        role: flags.role,
        wake: flags.wake,
        allow: flags.allow,
        server: ctx.globals.server,
        profile: ctx.globals.profile,
      });
      // The server finds the same transport as this command did.
      if (flags.path !== undefined) entry.args.push("--path", flags.path);
      if (flags.containername !== undefined) {
        entry.args.push("--containername", flags.containername);
      }
      // Gemini CLI and Qwen Code: the system defaults they read now, kept under crosstalk's.
      let systemDefaults: { path: string; text: string | undefined } | undefined;
      if (agent === "gemini" || agent === "qwen") {
        const path = systemDefaultsPath(agent, ctx.env);
        systemDefaults = { path, text: await Deno.readTextFile(path).catch(() => undefined) };
      }
      // Before any engine starts: a CLI that cannot be started this way says so at once.
      const launch = chatLaunch(agent, entry, {
        args,
        env: ctx.env,
        ...(systemDefaults ? { systemDefaults } : {}),
      });
      // The session's MCP server relays to an engine: without one, the agent would start with
      // a server that fails at once. Asked now, so that the user hears why.
      const api = flags.noStart
        ? await openApi(flags, ctx)
        : await (await import("./server.ts")).apiStartingEngine(flags, ctx);
      await api.call("GET", "/api/whoami");
      // A settings file of this session's own, readable by the user only, gone when it ends.
      const env = { ...launch.env };
      let settingsFile: string | undefined;
      if (launch.settings) {
        const dir = join(locationOf(flags, ctx).stateDir, "chat");
        await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
        await removeLeftSettings(dir);
        settingsFile = join(dir, `${agent}-${Deno.pid}.json`);
        await Deno.writeTextFile(settingsFile, launch.settings.text, { mode: 0o600 });
        env[launch.settings.variable] = settingsFile;
      }
      try {
        await runAgent(launch.argv, env, ctx);
      } finally {
        if (settingsFile) await Deno.remove(settingsFile).catch(() => {});
      }
    });
}

/** Removes the settings files of chats that were killed outright (their process is gone). */
async function removeLeftSettings(dir: string): Promise<void> {
  const { isProcessAlive } = await import("../engine/_process.ts");
  for await (const entry of Deno.readDir(dir)) {
    const pid = /^(?:gemini|qwen)-(\d+)\.json$/.exec(entry.name)?.[1];
    if (entry.isFile && pid !== undefined && !isProcessAlive(Number(pid))) {
      await Deno.remove(join(dir, entry.name)).catch(() => {});
    }
  }
}

/** Runs the agent CLI in this terminal; its exit code becomes the command's. */
async function runAgent(argv: string[], env: Record<string, string>, ctx: CliContext) {
  const [program, ...rest] = argv;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program!, {
      args: rest,
      env,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CrosstalkError(
        "ERR_AGENT_NOT_FOUND",
        `Cannot start ${program}: it is not on PATH (install it first)`,
      );
    }
    throw error;
  }
  // Ctrl-C belongs to the agent (the terminal sends it to both): this process waits for it.
  const ignore = () => {};
  Deno.addSignalListener("SIGINT", ignore);
  // A hangup (the terminal closed) or a SIGTERM ends the agent too, and this process waits for
  // it: dying at once would leave the agent running without its terminal's owner, and the
  // session's settings file behind.
  const passOn = Deno.build.os === "windows" ? [] : (["SIGHUP", "SIGTERM"] as const).map(
    (signal) => ({
      signal,
      handler: () => {
        try {
          child.kill(signal);
        } catch {
          // Ended already: its status is on its way.
        }
      },
    }),
  );
  for (const { signal, handler } of passOn) Deno.addSignalListener(signal, handler);
  try {
    const status = await child.status;
    ctx.exitCode = status.code;
  } finally {
    Deno.removeSignalListener("SIGINT", ignore);
    for (const { signal, handler } of passOn) Deno.removeSignalListener(signal, handler);
  }
}
