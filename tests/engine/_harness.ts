// Running real engines as subprocesses on temp transports, and waiting for what they log.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LogRecord } from "../../engine/log.ts";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import { scaffoldTransport } from "../../transports/mod.ts";
import { git, MAIN } from "../_helpers.ts";

/** The test agents (small scripts that behave like agent CLIs). */
export const AGENTS = fileURLToPath(new URL("../testdata/agents/", import.meta.url));

/** Writes a local transport at `root` whose yaml has `providers` (and optional engine settings). */
export async function makeTransport(root: string, yaml: string): Promise<void> {
  await scaffoldTransport(root, { kind: "local" });
  await Deno.writeTextFile(join(root, "data", "crosstalk.yaml"), `transport: local\n${yaml}`);
}

/**
 * The folders of the named transport `name` in the default storage of a test home (XDG_DATA_HOME
 * is `<home>/.local/share`, see tests/_helpers.ts): where `--containername name` finds it.
 */
export function namedTransport(home: string, name = "team"): { root: string; state: string } {
  const base = join(home, ".local", "share", "crosstalk", name);
  return { root: join(base, "transport"), state: join(base, "crosstalk-state") };
}

/** Opens a bus on `root` for sending and reading in the test process. */
export function openBus(root: string, env: Record<string, string> = {}): Promise<Bus> {
  return Bus.open(locateTransport({ path: root }, { HOME: "/nonexistent", ...env }), {
    env: { USER: "tester", ...env },
  });
}

/** A real `crosstalk serve` subprocess. */
export class EngineProcess implements AsyncDisposable {
  readonly alias: string;
  readonly records: LogRecord[] = [];
  #child: Deno.ChildProcess;
  #waiters: { pred: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];
  #reading: Promise<void>;
  #status: Promise<Deno.CommandStatus>;
  stderrText = "";

  private constructor(alias: string, child: Deno.ChildProcess) {
    this.alias = alias;
    this.#child = child;
    this.#status = child.status;
    this.#reading = this.#read();
  }

  /** Starts an engine and waits until it is ready. */
  static async start(
    root: string,
    options: {
      alias: string;
      state: string;
      env?: Record<string, string>;
      /** A network namespace to run in (`ip netns exec`, which execs: the pid is the engine's). */
      netns?: string;
      /** How long it may take to be ready (a restart with a backlog takes longer); default 20 s. */
      readyTimeoutMs?: number;
      /** More arguments for `serve` (`--port P`). */
      args?: string[];
    },
  ): Promise<EngineProcess> {
    const command = [
      ...(options.netns ? ["ip", "netns", "exec", options.netns] : []),
      Deno.execPath(),
    ];
    const child = new Deno.Command(command[0]!, {
      args: [
        ...command.slice(1),
        "run",
        "-A",
        "--quiet",
        MAIN,
        "serve",
        "--path",
        root,
        "--alias",
        options.alias,
        "--state",
        options.state,
        ...(options.args ?? []),
      ],
      env: { CROSSTALK_LOG_JSON: "1", NO_COLOR: "1", USER: "tester", ...(options.env ?? {}) },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const engine = new EngineProcess(options.alias, child);
    try {
      await engine.waitFor((r) => r.event === "engine.ready", options.readyTimeoutMs ?? 20_000);
    } catch (error) {
      // Not left running: the test fails here, not the next ones with leaked processes. (It may
      // have exited already: its error, with its output, is what the test must show.)
      try {
        engine.signal("SIGKILL");
      } catch {
        // Gone by itself.
      }
      await engine.exit();
      throw error;
    }
    return engine;
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Resolves with the first record (past or future) that matches, or rejects after `timeoutMs`. */
  waitFor(pred: (r: LogRecord) => boolean, timeoutMs = 15_000): Promise<LogRecord> {
    const found = this.records.find(pred);
    if (found) return Promise.resolve(found);
    const { promise, resolve, reject } = Promise.withResolvers<LogRecord>();
    const waiter = { pred, resolve };
    this.#waiters.push(waiter);
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
      reject(
        new Error(
          `engine ${this.alias}: no matching log record within ${timeoutMs} ms\n${
            this.stderrText.slice(-3000)
          }`,
        ),
      );
    }, timeoutMs);
    return promise.finally(() => clearTimeout(timer));
  }

  /** Records matching `pred` so far. */
  count(pred: (r: LogRecord) => boolean): number {
    return this.records.filter(pred).length;
  }

  /** Sends a signal. */
  signal(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** Waits for the process to exit. */
  async exit(): Promise<Deno.CommandStatus> {
    const status = await this.#status;
    await this.#reading;
    return status;
  }

  /** SIGTERM, then wait. */
  async stop(): Promise<Deno.CommandStatus> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    return await this.exit();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.exit();
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of this.#child.stderr) {
      const text = decoder.decode(chunk, { stream: true });
      this.stderrText += text;
      buffer += text;
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        let record: LogRecord;
        try {
          record = JSON.parse(line) as LogRecord;
        } catch {
          continue;
        }
        this.records.push(record);
        this.#waiters = this.#waiters.filter((
          w,
        ) => (w.pred(record) ? (w.resolve(record), false) : true));
      }
    }
  }
}

/** The ids of processes whose command line contains `marker` (Linux). */
export async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(marker)) pids.push(Number(entry.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** Fast polling so that tests never wait long, unless a test asks for slow polling. */
export const FAST = "git:\n  fetch_min_ms: 100\n  fetch_max_ms: 400\n  presence_seconds: 1\n" +
  "  presence_timeout_seconds: 4\n";

/**
 * A bare remote and one clone per alias. The first clone writes the transport with `yaml` and
 * pushes it; the others join with `transport init --remote` (the same code path).
 */
export async function network(
  dir: string,
  aliases: string[],
  yaml: string,
  git_settings = FAST,
): Promise<{ remote: string; roots: Record<string, string> }> {
  const remote = join(dir, "remote.git");
  await git(dir, "init", "-q", "--bare", "-b", "main", remote);
  const roots: Record<string, string> = {};
  for (const [i, alias] of aliases.entries()) {
    const root = join(dir, `machine-${alias}`);
    await scaffoldTransport(root, { kind: "git", remote });
    if (i === 0) {
      await Deno.writeTextFile(
        join(root, "data", "crosstalk.yaml"),
        `transport: git\n${git_settings}${yaml}`,
      );
      await git(root, "add", "-A");
      await git(root, "commit", "-q", "-m", "test config");
      await git(root, "push", "-q", "origin", "main");
    }
    roots[alias] = root;
  }
  return { remote, roots };
}

/**
 * A git transport at `<dir>/bus` made by `transport init --transport git` with no remote (one
 * machine, as Crosstalk 8's quickstart makes it): the template's models (the built-in echo),
 * with fast git settings for when it gets a remote.
 */
export async function cloneWithoutRemote(dir: string): Promise<string> {
  const root = join(dir, "bus");
  await scaffoldTransport(root, { kind: "git" });
  const yaml = join(root, "data", "crosstalk.yaml");
  await Deno.writeTextFile(yaml, `${await Deno.readTextFile(yaml)}\n${FAST}`);
  await git(root, "commit", "-q", "-am", "test: fast git settings");
  return root;
}

/** The files on `branch` of a bare remote (none while it has no such branch). */
export async function remoteFiles(remote: string, branch = "main"): Promise<string[]> {
  try {
    return (await git(remote, "ls-tree", "-r", "--name-only", branch)).split("\n");
  } catch {
    return [];
  }
}

/**
 * A repeatable pseudo-random sequence in [0, 1) for chaos tests: the moments differ from round to
 * round, and a failure can be run again.
 */
export function seededRandom(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/**
 * Picks one of `moments` (an event and how many more of it to wait for) with `random`, waits
 * until `engine` has logged that many more of that event, then kills it with SIGKILL. With other
 * engines racing it, the moment may never come (they won every claim): after 10 s it is killed
 * all the same, which is another moment.
 */
export async function killAtRandomMoment(
  engine: EngineProcess,
  random: () => number,
  moments: [event: string, times: number][],
): Promise<void> {
  const [event, times] = moments[Math.floor(random() * moments.length)]!;
  const before = engine.count((r) => r.event === event);
  await engine.waitFor(() => engine.count((r) => r.event === event) >= before + times, 10_000)
    .catch(() => {});
  engine.signal("SIGKILL");
  await engine.exit();
}

/**
 * The yaml of a transport whose one model, `work`, sleeps `$SLOW_SECONDS`, records its run in
 * `$RECORD_FILE` and replies (testdata/agents/slowrec.sh); for tests that kill engines under load.
 */
export function workerYaml(leaseSeconds: number, concurrency: number): string {
  return `engine:\n  lease_seconds: ${leaseSeconds}\n  concurrency: ${concurrency}\n` +
    `  model_concurrency: ${concurrency}\nproviders:\n  test:\n    env:\n` +
    `      RECORD_FILE: "\${RECORD_FILE}"\n      SLOW_SECONDS: "\${SLOW_SECONDS}"\n` +
    `    models:\n      work: ${join(AGENTS, "slowrec.sh")}\n`;
}

/**
 * The models of the workflow compose tests: `composer` plans (the first model plans by default),
 * `draft` and `merge` answer, `chatty` answers prose, `broken` fails, and `ghostcli` is on no
 * PATH, so no engine ever runs it.
 */
export const COMPOSE_MODELS = `providers:\n  test:\n    models:\n` +
  `      composer: ${join(AGENTS, "composer.sh")}\n      draft: ${join(AGENTS, "reply.sh")}\n` +
  `      merge: ${join(AGENTS, "reply.sh")}\n      chatty: ${join(AGENTS, "chatty.sh")}\n` +
  `      broken: ${join(AGENTS, "fail.sh")}\n      ghostcli: /nonexistent/ghost-cli --print\n` +
  `      quiet: ${join(AGENTS, "empty.sh")}\n`;

/**
 * Engine `a` on a new local transport in `dir` with `yaml`, and a bus on that transport to send
 * with; disposing of it stops both.
 */
export async function engineWithBus(
  dir: string,
  yaml: string,
  env: Record<string, string> = {},
) {
  const root = join(dir, "bus");
  await makeTransport(root, yaml);
  const engine = await EngineProcess.start(root, { alias: "a", state: join(dir, "state"), env });
  const bus = await openBus(root);
  return {
    engine,
    bus,
    async [Symbol.asyncDispose]() {
      await bus[Symbol.asyncDispose]();
      await engine[Symbol.asyncDispose]();
    },
  };
}
