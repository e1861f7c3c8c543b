// The engine in the foreground, with its HTTP API: loaded only by `serve` and `daemon dispatch`,
// so that other commands never pay for the engine's and the server's modules.
import {
  advertisedApi,
  bootstrapUsers,
  choosePort,
  portHolder,
  rememberPort,
  writeLocalCredential,
} from "../engine/api_setup.ts";
import { ApprovalStore } from "../engine/approvals.ts";
import { AuthStore } from "../engine/auth.ts";
import { Engine } from "../engine/engine.ts";
import { EventHub } from "../engine/events.ts";
import { IdempotencyStore } from "../engine/idempotency.ts";
import type { TransportLocation } from "../engine/paths.ts";
import { engineReport } from "../engine/status.ts";
import { VERSION } from "../engine/version.ts";
import { createApp } from "../routes/mod.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { formatRecord, type LogSink, readLogTail } from "../engine/log.ts";
import { type CliContext, locationOf } from "./_context.ts";
import { join } from "../transports/path.ts";
import type { ServeFlags } from "./serve.ts";

/** Runs the engine and its API until SIGINT or SIGTERM. */
export async function runEngine(flags: ServeFlags, ctx: CliContext): Promise<void> {
  const location = locationOf(flags, ctx);
  // Listen before starting, so that a signal during start-up still means a clean stop.
  let engine: Engine | undefined;
  let started = false;
  let signals = 0;
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const onStop = () => {
    signals++;
    // A signal during start-up is acted on once everything has started.
    if (!engine || !started) return;
    // The first signal drains (running CLIs get the grace period); a second one forces.
    if (signals === 1) engine.stop().then(stop, stop);
    else engine.dispatcher.abortRuns();
  };
  // A reload never takes the engine down: what it could not do is logged, the old config kept.
  const onReload = () =>
    void engine?.reload().catch((error) =>
      engine?.log.error("config.reload_failed", { reason: String(error) })
    );
  const stopSignals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of stopSignals) Deno.addSignalListener(signal, onStop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGHUP", onReload);
  try {
    const events = new EventHub();
    const logStream = new EventHub(2_000, { records: "all" });
    // Listen first: the engine publishes its API's address for nudges from other machines.
    const listener = await listen(location, flags.port, ctx);
    let advertised;
    try {
      advertised = advertisedApi(ctx.env, listener.url);
      engine = await Engine.start(location, {
        env: ctx.env,
        alias: flags.alias,
        createIfMissing: location.isDefault,
        sinks: [stderrSink(ctx), events, logStream],
        api: advertised.url,
      });
    } catch (error) {
      await listener.server.shutdown();
      throw error;
    }
    if (advertised.unreachable) {
      engine.log.warn("api.unreachable_for_nudges", {
        url: advertised.url,
        reason:
          "the API listens on every interface: set CROSSTALK_API_URL to the address other machines reach it at, or they cannot nudge this engine (it still works at polling speed)",
      });
    }
    const server = await serveApi(engine, { events, logStream }, location, listener, ctx);
    started = true;
    if (signals > 0) engine.stop().then(stop, stop);
    await stopped;
    events.close();
    logStream.close();
    server.abortWaits();
    await server.shutdown();
    server.idempotency.close();
  } finally {
    for (const signal of stopSignals) Deno.removeSignalListener(signal, onStop);
    if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGHUP", onReload);
  }
}

/** A listening server whose handler is set once the engine has started. */
interface Listener {
  server: Deno.HttpServer;
  url: string;
  port: number;
  setHandler: (handler: (request: Request) => Response | Promise<Response>) => void;
}

async function listen(
  location: TransportLocation,
  requested: number | undefined,
  ctx: CliContext,
): Promise<Listener> {
  const hostname = ctx.env.CROSSTALK_API_BIND ?? "127.0.0.1";
  let handler: ((request: Request) => Response | Promise<Response>) | undefined;
  const starting = (request: Request) =>
    handler ? handler(request) : Response.json(
      { error: { code: "ERR_STARTING", message: "The engine is starting; try again" } },
      { status: 503, headers: { "retry-after": "1" } },
    );
  let port = await choosePort(location, requested);
  let server: Deno.HttpServer | undefined;
  for (let attempt = 0; !server; attempt++) {
    try {
      server = Deno.serve({ hostname, port, onListen: () => {} }, starting);
    } catch (error) {
      // Engines starting side by side may pick the same free port: the loser takes the next.
      if (error instanceof Deno.errors.AddrInUse && (requested !== undefined || attempt > 50)) {
        const holder = await portHolder(port);
        throw new CrosstalkError(
          "ERR_PORT_IN_USE",
          `Cannot listen on ${hostname}:${port}: the port is in use${
            holder ? ` by ${holder}` : ""
          } (choose another with --port)`,
        );
      }
      if (!(error instanceof Deno.errors.AddrInUse)) {
        throw new CrosstalkError(
          "ERR_USAGE",
          `Cannot listen on ${hostname}:${port}: ${
            error instanceof Error ? error.message : String(error)
          } (check CROSSTALK_API_BIND, or choose another port with --port)`,
        );
      }
      port++;
    }
  }
  const url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  return { server, url, port, setHandler: (h) => (handler = h) };
}

async function serveApi(
  engine: Engine,
  { events, logStream }: { events: EventHub; logStream: EventHub },
  location: TransportLocation,
  listener: Listener,
  ctx: CliContext,
): Promise<Deno.HttpServer & { idempotency: IdempotencyStore; abortWaits: () => void }> {
  const auth = await AuthStore.open(location.stateDir);
  const setupToken: { value: string | undefined } = { value: undefined };
  const idempotency = await IdempotencyStore.open(location.stateDir);
  const shutdown = new AbortController();
  const approvals = new ApprovalStore({
    onChange: (approval) => events.publish("approval", { ...approval }),
  });
  const app = createApp({
    idempotency,
    approvals,
    shutdown: shutdown.signal,
    bus: engine.bus,
    auth,
    version: VERSION,
    env: ctx.env,
    report: () => engineReport(location, engine.bus),
    events,
    logStream,
    logs: (lines) => readLogTail(location.stateDir, lines),
    nudge: (token) => engine.acceptNudge(token),
    live: engine,
    log: engine.log,
    setupToken,
    // The local CLI needs no login from the moment the admin exists, not from the next start.
    onAdminCreated: async (username) => {
      engine.log.info("auth.admin_created", { username });
      try {
        const credential = await writeLocalCredential(auth, location.stateDir, listener.url);
        await Deno.remove(join(location.stateDir, "setup-token")).catch(() => {});
        if (credential) engine.log.info("api.credential", { credential });
      } catch (error) {
        engine.log.warn("api.credential_failed", { error: String(error) });
      }
    },
  });
  engine.setUsers(() => auth.listUsers().map((u) => u.username));
  listener.setHandler(app.fetch);
  const { server, url } = listener;
  // Written only once the engine runs: a failed start leaves the state dir as it was.
  await rememberPort(location, listener.port);
  engine.dispatcher.setApi({
    url,
    mintAgentToken: (model, ttl) => auth.mintAgentToken(model, ttl),
  });
  const boot = await bootstrapUsers(auth, location.stateDir, ctx.env);
  if (boot.kind === "setup") {
    setupToken.value = boot.token;
    // The one-time URL goes to the terminal only, never into the log file.
    ctx.err(
      `First run: create the admin at ${url}/setup?token=${boot.token} (also in ${boot.file})\n`,
    );
    engine.log.warn("auth.first_run_setup", { file: boot.file });
  } else if (boot.kind === "created") {
    engine.log.info("auth.admin_created", { username: boot.username });
  }
  const credential = await writeLocalCredential(auth, location.stateDir, url);
  engine.log.info("api.listening", { url, ...(credential ? { credential } : {}) });
  return Object.assign(server, { idempotency, abortWaits: () => shutdown.abort() });
}

function stderrSink(ctx: CliContext): LogSink {
  const pretty = Deno.stderr.isTerminal() && !ctx.env.CROSSTALK_LOG_JSON;
  return { write: (record, line) => ctx.err(`${pretty ? formatRecord(record) : line}\n`) };
}
