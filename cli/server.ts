// `crosstalk server start | stop | restart | status | logs`: the engine in the background. In
// system mode systemd or launchd owns the engine, and these print the manager's command instead.
import { basename, dirname, resolve } from "../transports/path.ts";
import { isName } from "../transports/names.ts";
import {
  apiUrl,
  livePid,
  probeHealth,
  readStatus,
  serverLogFile,
  startInBackground,
  stopInBackground,
} from "../engine/background.ts";
import type { TransportLocation } from "../engine/paths.ts";
import { type ServerVerb, systemServiceCommand } from "../engine/service.ts";
import { currentFacts, detectMode, SYSTEM_DIRS } from "../engine/system_paths.ts";
import { selfCommand } from "../engine/which.ts";
import { DEFAULT_TRANSPORT_NAME } from "../engine/paths.ts";
import { CrosstalkError } from "../schema/errors.ts";
import {
  type CliContext,
  Command,
  locationOf,
  namesAnEngine,
  printJson,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";
import { type HttpClient, openApi, pendingSetupError, resolveApi } from "./_client.ts";
import { logsCommand } from "./status.ts";

/** The options of the `server` subcommands. */
export interface ServerFlags extends TransportFlags {
  user?: boolean;
  system?: boolean;
  alias?: string;
  port?: number;
  timeout?: number;
  probe?: boolean;
  follow?: boolean;
  lines?: number;
}

/** Seconds `start` waits for the engine to be ready. */
const START_TIMEOUT_S = 30;
/** Seconds `stop` waits after SIGTERM before SIGKILL: the engine drains for up to 30 s. */
const STOP_TIMEOUT_S = 45;
/** The exit code of `status` when no engine runs (or the probe fails). */
const NOT_RUNNING = 1;

/** The `server` noun. */
export function serverCommand(ctx: CliContext): Command {
  const server = new Command("server").description(
    "run the engine in the background: start, stop, restart, status, logs",
  );
  withStartOptions(common(server.command("start")))
    .description("start the engine detached and wait until its API answers")
    .action(async (flags: ServerFlags) => {
      if (systemMode("start", flags, ctx)) return;
      await start(flags, ctx);
    });
  common(server.command("stop"))
    .description("stop the engine: SIGTERM, wait for it to drain, SIGKILL after --timeout")
    .option("--timeout <s>", "seconds to wait before SIGKILL", Number, STOP_TIMEOUT_S)
    .action(async (flags: ServerFlags) => {
      if (systemMode("stop", flags, ctx)) return;
      await stop(flags, ctx);
    });
  withStartOptions(common(server.command("restart")))
    .description("stop the engine if it runs, then start it")
    .action(async (flags: ServerFlags) => {
      if (systemMode("restart", flags, ctx)) return;
      await stop({ ...flags, timeout: STOP_TIMEOUT_S }, ctx);
      await start(flags, ctx);
    });
  withJson(common(server.command("status")))
    .description("pid, liveness and heartbeat of the engine; --probe also asks its API")
    .option("--probe", "call GET /healthz on the engine's port")
    .action(async (flags: ServerFlags) => {
      if (systemMode("status", flags, ctx)) return;
      await status(flags, ctx);
    });
  withJson(common(server.command("logs")))
    .description("the engine's log (as `crosstalk logs`)")
    .option("-f, --follow", "keep printing new records")
    .option("-n, --lines <n>", "only the last n records", (v: string) => Number(v))
    .action(async (flags: ServerFlags) => {
      if (systemMode("logs", flags, ctx)) return;
      await logsCommand(ctx).parseAsync(logsArgs(flags), { from: "user" });
    });
  return server;
}

function common(command: Command): Command {
  return withTransportOptions(command)
    .option("--user", "the engine of this user (default unless root)")
    .option("--system", "the system service (prints the systemctl or launchctl command)");
}

function withStartOptions(command: Command): Command {
  return command
    .option("--alias <name>", "this machine's name on the bus (default: the transport name)")
    .option("--port <port>", "the HTTP API's port", Number)
    .option("--timeout <s>", "seconds to wait for the engine to be ready", Number, START_TIMEOUT_S);
}

/** In system mode, prints the service manager's command and returns true. */
function systemMode(verb: ServerVerb, flags: ServerFlags, ctx: CliContext): boolean {
  if (detectMode(flags, currentFacts(ctx.env)) !== "system") return false;
  const kind = Deno.build.os === "darwin" ? "launchd" : "systemd";
  const name = flags.path === undefined
    ? flags.containername ?? DEFAULT_TRANSPORT_NAME
    : systemTransportName(resolve(flags.path));
  if (name === undefined) {
    throw new CrosstalkError(
      "ERR_USAGE",
      `In system mode ${kind} runs only the transports in ${SYSTEM_DIRS.data}/<name>/transport, ` +
        `and "${resolve(flags.path!)}" is none of them: for an engine of your own on it, ` +
        `add --user (or set CROSSTALK_USER_MODE=1)`,
    );
  }
  ctx.out(
    `In system mode ${kind} runs the engine of "${name}"; use:\n  ${
      systemServiceCommand(verb, kind, name)
    }\n(for an engine of your own: --user, or CROSSTALK_USER_MODE=1)\n`,
  );
  return true;
}

/** The name of a system transport from its path (`/var/lib/crosstalk/<name>/transport`). */
function systemTransportName(path: string): string | undefined {
  const [parent, name, leaf] = [dirname(dirname(path)), basename(dirname(path)), basename(path)];
  return parent === SYSTEM_DIRS.data && leaf === "transport" && isName(name) ? name : undefined;
}

async function start(flags: ServerFlags, ctx: CliContext): Promise<void> {
  const timeout = seconds(flags.timeout ?? START_TIMEOUT_S, "--timeout");
  const { location, started, firstRun } = await startDetached(flags, ctx, timeout);
  ctx.out(
    `Started the engine (pid ${started.pid}) for ${location.root}\n` +
      `  api: ${started.url}\n  output: ${started.logFile}\n`,
  );
  if (firstRun) ctx.out(`${firstRun}\n`);
}

/**
 * This transport's engine started detached (`serve` with the same transport flags), and the
 * one-time setup line it printed on a first run.
 */
async function startDetached(flags: ServerFlags, ctx: CliContext, timeoutSeconds: number) {
  const location = locationOf(flags, ctx);
  const started = await startInBackground(location, {
    command: [...selfCommand(), "serve", ...serveArgs(flags)],
    env: definedEnv(ctx.env),
    timeoutMs: timeoutSeconds * 1000,
  });
  const firstRun = started.output.split("\n").find((line) => line.startsWith("First run:"));
  return { location, started, firstRun };
}

/**
 * The API for a session that cannot work without an engine (`mcp`, `chat`): the one `openApi`
 * finds, else this transport's engine started in the background as `server start` does, so that
 * an agent session just works. Not for `--server`, `--profile` or a system service, which this
 * user does not start. Messages go to stderr: an MCP server's stdout is its protocol.
 *
 * @throws {CrosstalkError} as `openApi` when no engine can be reached or started;
 *   `ERR_UNAUTHENTICATED` when the engine started but has no admin yet (with its setup URL)
 */
export async function apiStartingEngine(
  flags: TransportFlags,
  ctx: CliContext,
): Promise<HttpClient> {
  const found = await resolveApi(flags, ctx);
  if (found) return found;
  const remote = namesAnEngine(ctx);
  if (remote || detectMode({}, currentFacts(ctx.env)) === "system") {
    return await openApi(flags, ctx);
  }
  try {
    const { location, started, firstRun } = await startDetached(flags, ctx, START_TIMEOUT_S);
    ctx.err(
      `crosstalk: started the engine for ${location.root} (pid ${started.pid}, ${started.url}); ` +
        `"crosstalk server stop" stops it\n`,
    );
    if (firstRun) {
      throw new CrosstalkError("ERR_UNAUTHENTICATED", `The engine has no users yet. ${firstRun}`);
    }
  } catch (error) {
    // Another session started it a moment ago: it is found below once it is ready.
    if (!(error instanceof CrosstalkError && error.code === "ERR_ENGINE_RUNNING")) throw error;
  }
  // The engine leaves the local CLI's credential once it listens; give it the start's time.
  const deadline = Date.now() + START_TIMEOUT_S * 1000;
  while (Date.now() < deadline) {
    const api = await resolveApi(flags, ctx);
    if (api) return api;
    // An engine that runs without an admin leaves no credential until someone makes one.
    const setup = await pendingSetupError(flags, ctx);
    if (setup) throw setup;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return await openApi(flags, ctx);
}

async function stop(flags: ServerFlags, ctx: CliContext): Promise<void> {
  const location = locationOf(flags, ctx);
  const timeout = seconds(flags.timeout ?? STOP_TIMEOUT_S, "--timeout");
  const stopped = await stopInBackground(location.stateDir, timeout * 1000);
  if (!stopped) {
    ctx.out(`No engine is running for ${location.root}\n`);
    return;
  }
  ctx.out(
    stopped.killed
      ? `Killed the engine (pid ${stopped.pid}): it did not stop within ${timeout} s\n`
      : `Stopped the engine (pid ${stopped.pid})\n`,
  );
}

/** What `server status` reports. */
export interface ServerStatus {
  transport: string;
  stateDir: string;
  running: boolean;
  pid?: number;
  /** Seconds since the engine's last heartbeat. */
  heartbeatAge?: number;
  /** The engine stopped cleanly last time. */
  stopped?: boolean;
  probe?: { ok: boolean; url: string; status?: number; ms: number; error?: string };
  /** Where the engine said it listens (its port file), without asking it. */
  api?: string;
  log: string;
}

async function status(flags: ServerFlags, ctx: CliContext): Promise<void> {
  const location = locationOf(flags, ctx);
  const report = await serverStatus(location, flags.probe === true, ctx);
  if (!report.running || (report.probe && !report.probe.ok)) ctx.exitCode = NOT_RUNNING;
  if (flags.json) return printJson(ctx, report);
  const lines = [`transport: ${report.transport}`, `state dir: ${report.stateDir}`];
  const heartbeat = report.heartbeatAge === undefined
    ? ""
    : `, heartbeat ${Math.round(report.heartbeatAge)}s ago`;
  if (report.running) lines.push(`engine:    running (pid ${report.pid}, alive${heartbeat})`);
  else if (report.pid === undefined) lines.push("engine:    not running (never started here)");
  else if (report.stopped) lines.push(`engine:    not running (pid ${report.pid} stopped cleanly)`);
  else lines.push(`engine:    not running (pid ${report.pid} is gone without a clean stop)`);
  if (report.probe) {
    const p = report.probe;
    lines.push(
      p.ok
        ? `api:       ${p.url} ok (${p.status} in ${p.ms.toFixed(1)} ms)`
        : `api:       ${p.url} not answering: ${p.error ?? `status ${p.status}`}`,
    );
  } else if (report.running && report.api) {
    lines.push(`api:       ${report.api} (--probe asks it)`);
  }
  lines.push(`output:    ${report.log}`);
  ctx.out(`${lines.join("\n")}\n`);
}

async function serverStatus(
  location: TransportLocation,
  probe: boolean,
  ctx: CliContext,
): Promise<ServerStatus> {
  const pid = await livePid(location.stateDir);
  const file = await readStatus(location.stateDir);
  const report: ServerStatus = {
    transport: location.root,
    stateDir: location.stateDir,
    running: pid !== undefined,
    log: serverLogFile(location.stateDir),
  };
  const known = pid ?? file?.pid;
  if (known !== undefined) report.pid = known;
  if (file) {
    report.heartbeatAge = (Date.now() - Date.parse(file.heartbeat)) / 1000;
    report.stopped = file.stopped;
  }
  const url = await apiUrl(location.stateDir, ctx.env);
  if (url) report.api = url;
  if (probe) {
    report.probe = url
      ? await probeHealth(url)
      : { ok: false, url: "(no port)", ms: 0, error: "the engine has not written its port" };
    // With no engine of ours running, whatever answers on its old port is another server (an
    // engine of another transport that took the port since).
    if (!report.running && report.probe.ok) {
      report.probe = {
        ...report.probe,
        ok: false,
        error: "the engine is not running (another server answers on its port)",
      };
    }
  }
  return report;
}

/** `serve`'s arguments for the same transport, with paths made absolute. */
function serveArgs(flags: ServerFlags): string[] {
  const args: string[] = [];
  if (flags.path !== undefined) args.push("--path", resolve(flags.path));
  if (flags.containername !== undefined) args.push("--containername", flags.containername);
  if (flags.state !== undefined) args.push("--state", resolve(flags.state));
  if (flags.alias !== undefined) args.push("--alias", flags.alias);
  if (flags.port !== undefined) args.push("--port", String(flags.port));
  return args;
}

/** `crosstalk logs` arguments for the same transport. */
function logsArgs(flags: ServerFlags): string[] {
  const args: string[] = [];
  if (flags.path !== undefined) args.push("--path", flags.path);
  if (flags.containername !== undefined) args.push("--containername", flags.containername);
  if (flags.state !== undefined) args.push("--state", flags.state);
  if (flags.follow) args.push("--follow");
  if (flags.lines !== undefined) args.push("--lines", String(flags.lines));
  if (flags.json) args.push("--json");
  return args;
}

function seconds(value: number, flag: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new CrosstalkError("ERR_USAGE", `${flag} must be a positive number of seconds`);
  }
  return value;
}

function definedEnv(env: CliContext["env"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}
