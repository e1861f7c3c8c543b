// The interactive prompts of `crosstalk auth login` on a real terminal (a pseudo-terminal made by
// util-linux `script`): the username is echoed as typed, the passphrase is not, and the login
// works.
import assert from "node:assert/strict";
import { join } from "node:path";
import { cliEnv, MAIN, runCrosstalk, tempDir } from "../_helpers.ts";
import { EngineProcess, makeTransport } from "../engine/_harness.ts";

/** `crosstalk <args>` on a pseudo-terminal: type into it, read what the terminal shows. */
class Terminal implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #screen = "";
  #changed: (() => void) | undefined;
  #reading: Promise<void>;

  constructor(home: string, args: string[]) {
    const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const command = [Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args].map(quote).join(" ");
    const child = new Deno.Command("script", {
      args: ["-q", "-e", "-f", "-c", command, "/dev/null"],
      clearEnv: true,
      env: { ...cliEnv({ home }), SHELL: "/bin/sh", TERM: "dumb" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#reading = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#screen += chunk;
        this.#changed?.();
      }
    })();
  }

  get screen(): string {
    return this.#screen;
  }

  /** Waits until the terminal shows `text` (the program is then waiting for input). */
  async shows(text: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#screen.includes(text)) {
      if (Date.now() > deadline) {
        throw new Error(`the terminal never showed ${JSON.stringify(text)}:\n${this.#screen}`);
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#changed = resolve;
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      await promise;
      clearTimeout(timer);
    }
  }

  async type(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /** The exit code, once the program ended. */
  async exit(): Promise<number> {
    await this.#writer.close();
    const status = await this.#child.status;
    await this.#reading;
    await this.#child.stderr.cancel();
    return status.code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
    await this.#child.status;
  }
}

Deno.test("auth login on a terminal echoes the username but not the passphrase, and logs in", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "bus");
  await makeTransport(root, "");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(home, "state"),
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  const server = (await engine.waitFor((r) => r.event === "api.listening")).url as string;

  await using terminal = new Terminal(home, ["--server", server, "auth", "login"]);
  await terminal.shows("Username: ");
  await terminal.type("boss\r");
  await terminal.shows("Passphrase: ");
  await terminal.type("the boss passphrase\r");
  assert.equal(await terminal.exit(), 0, terminal.screen);

  assert.match(terminal.screen, /Username: boss/, "the username is echoed");
  assert.doesNotMatch(terminal.screen, /boss passphrase/, "the passphrase never shows");
  const saved = JSON.parse(
    await Deno.readTextFile(join(home, ".config", "crosstalk", "credentials.json")),
  );
  assert.equal(
    Object.values(saved.profiles as Record<string, { server: string }>)[0]!.server,
    server,
  );
});

Deno.test("auth login keeps a login saved by another while it waited for the passphrase", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "bus");
  await makeTransport(root, "");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(home, "state"),
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  const server = (await engine.waitFor((r) => r.event === "api.listening")).url as string;

  const args = ["--server", server, "--profile", "slow", "auth", "login", "--username", "boss"];
  await using terminal = new Terminal(home, args);
  await terminal.shows("Passphrase: ");
  // Meanwhile, another terminal logs in as another profile.
  const other = await runCrosstalk(
    ["--server", server, "--profile", "quick", "auth", "login", "--username", "boss"],
    { home, stdin: "the boss passphrase\n" },
  );
  assert.equal(other.code, 0, other.stderr);
  await terminal.type("the boss passphrase\r");
  assert.equal(await terminal.exit(), 0, terminal.screen);

  const saved = JSON.parse(
    await Deno.readTextFile(join(home, ".config", "crosstalk", "credentials.json")),
  );
  assert.deepEqual(Object.keys(saved.profiles).sort(), ["quick", "slow"]);
  assert.equal(saved.active, "slow");
});
