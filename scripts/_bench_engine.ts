/**
 * A `crosstalk serve` subprocess for the benchmarks that talk to a running engine (API, live
 * agents): a fresh home with a local transport named `bench`, a user `bench`, and the engine's
 * log in a file there.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { scaffoldTransport } from "../transports/mod.ts";
import { V8_FLAGS } from "../engine/which.ts";
import { scratchDir } from "./_scratch.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** The user every bench engine starts with. */
export const BENCH_USER = { username: "bench", passphrase: "bench passphrase" };

/** A running bench engine; disposing it stops the engine. */
export interface BenchEngine extends AsyncDisposable {
  /** The home folder, also where the transport and state dir live. */
  home: string;
  /** The environment the engine runs with, for other processes of the benchmark. */
  env: Record<string, string>;
  /** The API's base URL. */
  url: string;
  /** The engine's process id. */
  pid: number;
  /** The engine's log (its standard error). */
  log: string;
}

/** Options for {@linkcode startBenchEngine}. */
export interface BenchEngineOptions {
  /**
   * Extra `deno run` flags before the script; by default `--inspect` when `CROSSTALK_BENCH_INSPECT`
   * names a port, and crosstalk's V8 flags, or `CROSSTALK_BENCH_ENGINE_V8_FLAGS` instead when set
   * (empty: V8's defaults).
   */
  denoFlags?: string[];
}

/** Starts an engine on a new local transport and resolves once its API listens. */
export async function startBenchEngine(
  prefix: string,
  options: BenchEngineOptions = {},
): Promise<BenchEngine> {
  const home = await scratchDir(prefix);
  const env = {
    HOME: home,
    XDG_DATA_HOME: join(home, "data"),
    XDG_STATE_HOME: join(home, "state"),
    XDG_CONFIG_HOME: join(home, "config"),
    // Deno's own cache stays where it is: a fresh one would make the engine unpack its npm
    // packages again at start.
    DENO_DIR: Deno.env.get("DENO_DIR") ??
      join(Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`, "deno"),
    CROSSTALK_LOG_JSON: "1",
    CROSSTALK_INIT_USERNAME: BENCH_USER.username,
    CROSSTALK_INIT_PASSPHRASE: BENCH_USER.passphrase,
  };
  await scaffoldTransport(join(home, "data", "crosstalk", "bench", "transport"), {
    kind: "local",
  });
  // The log goes to a file, as a service's goes to the journal: read here, it would cost the
  // benchmark's own event loop (the clients' of the live bench) a share of every message.
  const log = join(home, "engine.log");
  const engine = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'exec "$@" 2>"$0"',
      log,
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      ...(options.denoFlags ?? defaultFlags()),
      MAIN,
      "serve",
      "--containername",
      "bench",
    ],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = engine.status.finally(() => exited = true);
  let url: string | undefined;
  while (!url) {
    const text = await Deno.readTextFile(log).catch(() => "");
    url = /"event":"api\.listening","url":"([^"]+)"/.exec(text)?.[1];
    if (url) break;
    if (exited) throw new Error(`the engine exited before listening:\n${text}`);
    // Nothing to await here but the file's growth; the engine listens within a second.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    home,
    env,
    url,
    log,
    pid: engine.pid,
    async [Symbol.asyncDispose]() {
      engine.kill("SIGTERM");
      await status;
    },
  };
}

/**
 * `--inspect` on the port `CROSSTALK_BENCH_INSPECT` names (for scripts/profile.ts), and the V8
 * flags the engine runs with: crosstalk's (engine/which.ts), as `deno task serve` and the binary
 * have them, or those of `CROSSTALK_BENCH_ENGINE_V8_FLAGS` when it is set, for the engine alone
 * (not the benchmark's clients); set to nothing, V8's defaults.
 */
function defaultFlags(): string[] {
  const port = Deno.env.get("CROSSTALK_BENCH_INSPECT");
  const v8 = Deno.env.get("CROSSTALK_BENCH_ENGINE_V8_FLAGS");
  const flags = v8 === undefined ? [V8_FLAGS] : v8 === "" ? [] : [`--v8-flags=${v8}`];
  return [...(port ? [`--inspect=127.0.0.1:${port}`] : []), ...flags];
}
