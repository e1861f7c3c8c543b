// A real terminal for the CLI's questions: the program runs on a pseudo-terminal made by
// util-linux `script`, and the test types into it and reads what it shows.
import { cliEnv, MAIN } from "../_helpers.ts";

/** `crosstalk <args>` on a pseudo-terminal: type into it, read what the terminal shows. */
export class Terminal implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #screen = "";
  #changed: (() => void) | undefined;
  #reading: Promise<void>;

  /** `env`: more environment for the program, beside the test home's (cliEnv). */
  constructor(home: string, args: string[], env: Record<string, string> = {}) {
    const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    const command = [Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args].map(quote).join(" ");
    const child = new Deno.Command("script", {
      args: ["-q", "-e", "-f", "-c", command, "/dev/null"],
      clearEnv: true,
      env: { ...cliEnv({ home }), SHELL: "/bin/sh", TERM: "dumb", ...env },
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
