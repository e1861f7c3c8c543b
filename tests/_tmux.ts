// A private tmux server for the tests that drive real tmux: its own socket, no user config,
// killed at the end of the scope. `reader` runs the stand-in agent TUI (testdata/tmux/reader.ts),
// which records each submission as a JSON line.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitUntil } from "./_helpers.ts";

/** The stand-in agent TUI: `reader.ts FILE [dialog]`. */
export const READER = fileURLToPath(new URL("./testdata/tmux/reader.ts", import.meta.url));

/** A tmux server on `<dir>/tmux.sock`. */
export class TmuxServer implements AsyncDisposable {
  readonly socket: string;

  constructor(dir: string) {
    this.socket = join(dir, "tmux.sock");
  }

  /** Runs tmux on this server; returns its trimmed stdout, fails the test on an error. */
  async run(...args: string[]): Promise<string> {
    const out = await new Deno.Command("tmux", { args: ["-S", this.socket, ...args] }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  }

  /**
   * A session named `name` (the server's first starts it) running the reader, recording into
   * `file` (`dialog`: showing a confirmation dialog); returns its pane once the reader reads.
   */
  async reader(name: string, file: string, mode?: "dialog"): Promise<string> {
    const pane = await this.run(
      ...["-f", "/dev/null", "new-session", "-d", "-s", name, "-x", "200", "-y", "50"],
      ...["-P", "-F", "#{pane_id}", "--", Deno.execPath(), "run", "-A", READER, file],
      ...(mode ? [mode] : []),
    );
    await waitUntil(() => Deno.stat(file).then(() => true, () => undefined));
    // And tmux has seen its request for bracketed paste: a paste before that is typed raw.
    await waitUntil(async () =>
      (await this.run("capture-pane", "-p", "-t", pane)).includes("(reader ready)") || undefined
    );
    return pane;
  }

  /**
   * A session that appears under `name` only once its reader reads: started under another name
   * and renamed, so that nothing is typed before the reader has asked for bracketed paste.
   */
  async readerAppearing(name: string, file: string): Promise<string> {
    const pane = await this.reader(`${name}-starting`, file);
    await this.run("rename-session", "-t", `=${name}-starting`, name);
    return pane;
  }

  /**
   * A session `name` whose pane runs a program that tmux names `argv0` (it only waits), in
   * `folder`; its pane id once tmux sees that program.
   */
  async program(name: string, argv0: string, folder: string): Promise<string> {
    const pane = await this.run(
      ...["-f", "/dev/null", "new-session", "-d", "-s", name, "-c", folder, "-P", "-F"],
      ...["#{pane_id}", "--", "bash", "-c", `exec -a ${argv0} sleep 600`],
    );
    await this.running(pane, argv0);
    return pane;
  }

  /** Waits until tmux names the program of `pane` `command` (a shell execs it a moment later). */
  running(pane: string, command: string): Promise<string> {
    return waitUntil(
      async () =>
        (await this.run("display-message", "-p", "-t", pane, "#{pane_current_command}")) ===
          command && command,
      15_000,
      `${command} in ${pane}`,
    );
  }

  /**
   * Kills the server and waits until nothing listens on its socket any more (the socket file
   * stays), so that the next session starts a new server instead of reaching the dying one.
   */
  async kill(): Promise<void> {
    await this.run("kill-server");
    await waitUntil(async () => {
      const out = await new Deno.Command("tmux", { args: ["-S", this.socket, "list-sessions"] })
        .output();
      return /no server running/.test(new TextDecoder().decode(out.stderr)) || undefined;
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await new Deno.Command("tmux", { args: ["-S", this.socket, "kill-server"], stderr: "null" })
      .output();
  }
}

/** The submissions the reader recorded in `file` so far. */
/**
 * The time a wake's header gives a message, read straight from its id (`YYYY/MM/DD/HHMMSSmmmZ-…`,
 * the sender's UTC time): `at 14:05 UTC`.
 */
export function sentAtOf(id: string): string {
  const time = /\/(\d\d)(\d\d)\d{5}Z-[0-9a-f]{8}\.md$/.exec(id);
  if (!time) throw new Error(`Not a message id: ${id}`);
  return `at ${time[1]}:${time[2]} UTC`;
}

export async function submissions(file: string): Promise<string[]> {
  const text = (await Deno.readTextFile(file)).trim();
  return text === "" ? [] : text.split("\n").map((l) => JSON.parse(l) as string);
}

/** The environment of a command run in `pane` of `server` (`$TMUX` and `$TMUX_PANE`). */
export function inPane(server: TmuxServer, pane: string): Record<string, string> {
  return { TMUX: `${server.socket},1,0`, TMUX_PANE: pane };
}
