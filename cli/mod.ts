/**
 * @module
 * The command line: one file per noun, each building a commander `Command` that calls the
 * engine. {@linkcode runCli} parses arguments, runs the command and maps every error to a
 * message on stderr and a named exit code; only `main.ts` exits.
 */
import { CommanderError } from "commander";
import { CrosstalkError, type ErrorCode } from "../schema/errors.ts";
import { type CliContext, Command } from "./_context.ts";
import { agentCommand } from "./agent.ts";
import { authCommand, tokenCommand, userCommand } from "./auth.ts";
import { channelCommand } from "./channel.ts";
import { configCommand } from "./config.ts";
import { messageCommand } from "./message.ts";
import { daemonCommand, serveCommand } from "./serve.ts";
import { logsCommand, statusCommand } from "./status.ts";
import { transportCommand } from "./transport.ts";
import { versionCommand } from "./version.ts";

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
  ERR_TIMEOUT: EXIT.tempFail,
  ERR_ENGINE_RUNNING: EXIT.cantCreate,
  ERR_USER_NOT_FOUND: EXIT.noInput,
  ERR_USER_EXISTS: EXIT.cantCreate,
  ERR_USER_INVALID: EXIT.dataErr,
  ERR_LOGIN_FAILED: EXIT.noPerm,
  ERR_TOKEN_INVALID: EXIT.noPerm,
  ERR_TOKEN_EXPIRED: EXIT.noPerm,
  ERR_TOKEN_REVOKED: EXIT.noPerm,
  ERR_TOKEN_NOT_FOUND: EXIT.noInput,
  ERR_UNAUTHENTICATED: EXIT.noPerm,
  ERR_FORBIDDEN: EXIT.noPerm,
  ERR_BODY_INVALID: EXIT.dataErr,
  ERR_BODY_TOO_LARGE: EXIT.dataErr,
  ERR_ROUTE_NOT_FOUND: EXIT.noInput,
  ERR_RATE_LIMITED: EXIT.tempFail,
};

/** The exit code for an error: from its code, never from its text. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CrosstalkError) return EXIT_BY_CODE[error.code];
  return EXIT.software;
}

/** Builds the whole command tree for one run. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("crosstalk")
    .description("a message bus for humans and AI coding agents: the bus is a directory")
    .option("--verbose", "on error, print the stack and causes")
    .option("--server <url>", "talk to the engine at this URL (with its saved login)")
    .option("--profile <name>", "use this saved login (see auth list)")
    .showHelpAfterError()
    .showSuggestionAfterError()
    .hook("preAction", () => {
      const { server, profile } = program.opts<{ server?: string; profile?: string }>();
      ctx.globals = { ...(server ? { server } : {}), ...(profile ? { profile } : {}) };
    });
  for (
    const command of [
      serveCommand(ctx),
      daemonCommand(ctx),
      transportCommand(ctx),
      configCommand(ctx),
      channelCommand(ctx),
      messageCommand(ctx),
      agentCommand(ctx),
      authCommand(ctx),
      tokenCommand(ctx),
      userCommand(ctx),
      statusCommand(ctx),
      logsCommand(ctx),
      versionCommand(ctx),
    ]
  ) program.addCommand(command);
  return program;
}

/** Runs the command line `args`; returns the exit code. */
export async function runCli(args: string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  const configure = (command: Command) => {
    command.exitOverride().showHelpAfterError().configureOutput({
      writeOut: (text) => ctx.out(text),
      writeErr: (text) => ctx.err(text),
      outputError: (text, write) => write(text),
    });
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  if (args.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await program.parseAsync(args, { from: "user" });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") {
        return EXIT.ok;
      }
      // `crosstalk help …` exits 0; a group named without a verb shows its help as an error.
      if (error.code === "commander.help") return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
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
