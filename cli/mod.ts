/**
 * @module
 * The command line: one file per noun, each building a `Command` (cli/_command.ts) that calls the
 * engine. {@linkcode runCli} parses arguments, runs the command and maps every error to a
 * message on stderr and a named exit code; only `main.ts` exits.
 */
import { CrosstalkError, type ErrorCode } from "../schema/errors.ts";
import { type CliContext, Command } from "./_context.ts";
import { UsageExit } from "./_command.ts";

export type { CliContext } from "./_context.ts";

/** Exit codes, after sysexits.h, so scripts can tell failures apart. */
export const EXIT = {
  ok: 0,
  problems: 1,
  usage: 64,
  dataErr: 65,
  noInput: 66,
  software: 70,
  cantCreate: 73,
  tempFail: 75,
  noPerm: 77,
  config: 78,
} as const;

const EXIT_BY_CODE: Record<ErrorCode, number> = {
  ERR_USAGE: EXIT.usage,
  ERR_CONFIG_INVALID: EXIT.config,
  ERR_CONFIG_MISSING: EXIT.config,
  ERR_TRANSPORT_NOT_FOUND: EXIT.noInput,
  ERR_TRANSPORT_INVALID: EXIT.noInput,
  ERR_CHANNEL_NOT_FOUND: EXIT.noInput,
  ERR_MESSAGE_NOT_FOUND: EXIT.noInput,
  ERR_TRANSPORT_EXISTS: EXIT.cantCreate,
  ERR_CHANNEL_EXISTS: EXIT.cantCreate,
  ERR_CHANNEL_AMBIGUOUS: EXIT.dataErr,
  ERR_CHANNEL_INVALID: EXIT.dataErr,
  ERR_MESSAGE_AMBIGUOUS: EXIT.dataErr,
  ERR_MESSAGE_INVALID: EXIT.dataErr,
  ERR_MESSAGE_TOO_LARGE: EXIT.dataErr,
  ERR_ID_INVALID: EXIT.dataErr,
  ERR_UNKNOWN_MODEL: EXIT.dataErr,
  ERR_AMBIGUOUS_MODEL: EXIT.dataErr,
  ERR_ADDRESS_INVALID: EXIT.dataErr,
  ERR_GIT_FAILED: EXIT.tempFail,
  ERR_REMOTE_CONFLICT: EXIT.tempFail,
  ERR_TIMEOUT: EXIT.tempFail,
  ERR_ENGINE_RUNNING: EXIT.cantCreate,
  ERR_STATE_UNWRITABLE: EXIT.cantCreate,
  ERR_PORT_IN_USE: EXIT.tempFail,
  ERR_USER_NOT_FOUND: EXIT.noInput,
  ERR_USER_EXISTS: EXIT.cantCreate,
  ERR_USER_INVALID: EXIT.dataErr,
  ERR_LOGIN_FAILED: EXIT.noPerm,
  ERR_TOKEN_INVALID: EXIT.noPerm,
  ERR_TOKEN_EXPIRED: EXIT.noPerm,
  ERR_TOKEN_REVOKED: EXIT.noPerm,
  ERR_TOKEN_NOT_FOUND: EXIT.noInput,
  ERR_AGENT_NOT_FOUND: EXIT.noInput,
  ERR_TASK_CONFLICT: EXIT.tempFail,
  ERR_WORKFLOW_INVALID: EXIT.dataErr,
  ERR_UNAUTHENTICATED: EXIT.noPerm,
  ERR_FORBIDDEN: EXIT.noPerm,
  ERR_BODY_INVALID: EXIT.dataErr,
  ERR_BODY_TOO_LARGE: EXIT.dataErr,
  ERR_ROUTE_NOT_FOUND: EXIT.noInput,
  ERR_RATE_LIMITED: EXIT.tempFail,
  ERR_SERVICE_EXISTS: EXIT.cantCreate,
  ERR_SERVICE_FAILED: EXIT.problems,
  ERR_ENGINE_START_FAILED: EXIT.problems,
};

/** The exit code for an error: from its code, never from its text. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CrosstalkError) return EXIT_BY_CODE[error.code];
  return EXIT.software;
}

type CommandFactory = (ctx: CliContext) => Command;

/** Each top-level command and the module that defines it, loaded only when it is used. */
const COMMANDS: Record<string, () => Promise<CommandFactory>> = {
  serve: async () => (await import("./serve.ts")).serveCommand,
  daemon: async () => (await import("./serve.ts")).daemonCommand,
  transport: async () => (await import("./transport.ts")).transportCommand,
  config: async () => (await import("./config.ts")).configCommand,
  settings: async () => (await import("./settings.ts")).settingsCommand,
  channel: async () => (await import("./channel.ts")).channelCommand,
  message: async () => (await import("./message.ts")).messageCommand,
  workflow: async () => (await import("./workflow.ts")).workflowCommand,
  task: async () => (await import("./task.ts")).taskCommand,
  approval: async () => (await import("./approval.ts")).approvalCommand,
  agent: async () => (await import("./agent.ts")).agentCommand,
  chat: async () => (await import("./chat.ts")).chatCommand,
  mcp: async () => (await import("./mcp.ts")).mcpCommand,
  watch: async () => (await import("./watch.ts")).watchCommand,
  auth: async () => (await import("./auth.ts")).authCommand,
  whoami: async () => (await import("./auth.ts")).whoamiCommand,
  token: async () => (await import("./auth.ts")).tokenCommand,
  user: async () => (await import("./auth.ts")).userCommand,
  status: async () => (await import("./status.ts")).statusCommand,
  logs: async () => (await import("./status.ts")).logsCommand,
  version: async () => (await import("./version.ts")).versionCommand,
  server: async () => (await import("./server.ts")).serverCommand,
  service: async () => (await import("./service.ts")).serviceCommand,
};

/**
 * Builds the command tree for one run: only the command named in `args` when there is one (a
 * CLI run pays for loading one command's modules, not all of them), else every command.
 */
export async function buildProgram(ctx: CliContext, args: string[] = []): Promise<Command> {
  const program = new Command("crosstalk")
    .description("a message bus for humans and AI coding agents: the bus is a directory")
    .option("--verbose", "on error, print the stack and causes")
    .option("--server <url>", "talk to the engine at this URL (with its saved login)")
    .option("--profile <name>", "use this saved login (see auth list)")
    .hook("preAction", () => {
      const { server, profile } = program.opts<{ server?: string; profile?: string }>();
      ctx.globals = { ...(server ? { server } : {}), ...(profile ? { profile } : {}) };
    });
  const noun = firstWord(args);
  const names = noun !== undefined && noun in COMMANDS ? [noun] : Object.keys(COMMANDS);
  for (const name of names) program.addCommand((await COMMANDS[name]!())(ctx));
  return program;
}

/** The first argument that is neither a global option nor its value. */
function firstWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--server" || arg === "--profile") i++;
    else if (!arg.startsWith("-")) return arg;
  }
  return undefined;
}

/** Runs the command line `args`; returns the exit code. */
export async function runCli(args: string[], ctx: CliContext): Promise<number> {
  const program = await buildProgram(ctx, args);
  if (args.length === 0) {
    ctx.err(program.helpInformation());
    return EXIT.usage;
  }
  try {
    await program.parseAsync(args, { from: "user" });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof UsageExit) {
      // Asked-for help goes to stdout; a usage error names the problem, then shows the help.
      if (error.exitCode === 0) {
        ctx.out(error.help);
        return EXIT.ok;
      }
      if (error.message !== "a command is needed") ctx.err(`error: ${error.message}\n\n`);
      ctx.err(error.help);
      return EXIT.usage;
    }
    const verbose = args.includes("--verbose");
    ctx.err(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    if (verbose) ctx.err(`${describeChain(error)}\n`);
    return exitCodeOf(error);
  }
}

function describeChain(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  let depth = 0;
  while (current !== undefined && depth++ < 8) {
    if (current instanceof Error) {
      lines.push(
        depth === 1
          ? current.stack ?? current.message
          : `Caused by: ${current.stack ?? current.message}`,
      );
      current = current.cause;
    } else {
      lines.push(`Caused by: ${String(current)}`);
      break;
    }
  }
  return lines.join("\n");
}
