import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  currentPane,
  currentSocket,
  paneState,
  type TmuxWakeOptions,
  wakeTmux,
} from "../../transports/tmux.ts";
import { tempDir, waitUntil } from "../_helpers.ts";

/** The stand-in agent TUI: records each submission as a JSON line. */
const READER = fileURLToPath(new URL("../testdata/tmux/reader.ts", import.meta.url));
const FAST = { enterDelayMs: 50 };

/** A private tmux server (its own socket, no user config), killed at the end of the scope. */
class TmuxServer implements AsyncDisposable {
  readonly socket: string;
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
    this.socket = join(dir, "sock");
  }

  /** Starts a server whose first session runs `command`; returns it and that pane's id. */
  static async start(dir: string, command: string[]): Promise<[TmuxServer, string]> {
    const server = new TmuxServer(dir);
    const pane = await server.tmux(
      ["-f", "/dev/null", "new-session", "-d", "-P", "-F", "#{pane_id}", "-x", "160", "-y", "40"],
      command,
    );
    return [server, pane];
  }

  /** Starts a reader pane (a new window) that records into `file`, and waits until it reads. */
  async reader(file: string, mode?: "dialog"): Promise<string> {
    const pane = await this.tmux(
      ["new-window", "-d", "-P", "-F", "#{pane_id}"],
      readerCommand(file, mode),
    );
    await waitUntil(() => Deno.stat(file).then(() => true, () => undefined));
    return pane;
  }

  /** Runs a tmux command on this server; returns its trimmed stdout, fails the test on error. */
  async tmux(args: string[], command: string[] = []): Promise<string> {
    const full = ["-S", this.socket, ...args, ...(command.length ? ["--", ...command] : [])];
    const out = await new Deno.Command("tmux", {
      args: full,
      cwd: this.dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    if (out.code !== 0) {
      throw new Error(`tmux ${args.join(" ")} failed: ${decoder.decode(out.stderr)}`);
    }
    return decoder.decode(out.stdout).trim();
  }

  get options(): { socket: string; enterDelayMs: number } {
    return { socket: this.socket, ...FAST };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.tmux(["kill-server"]).catch(() => {});
  }
}

function readerCommand(file: string, mode?: "dialog"): string[] {
  return [
    Deno.execPath(),
    "run",
    "--quiet",
    "--no-config",
    `--allow-write=${file}`,
    READER,
    file,
    ...(mode ? [mode] : []),
  ];
}

/** The submissions the reader recorded so far. */
async function submissions(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(file);
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as string);
}

/** Waits until the reader has recorded `count` submissions, and returns them. */
function waitForSubmissions(file: string, count: number): Promise<string[]> {
  return waitUntil(async () => {
    const got = await submissions(file);
    return got.length >= count ? got : undefined;
  });
}

/** A reader pane on a fresh private server (whose first session idles in `sleep`). */
async function withReader(
  dir: string,
  mode?: "dialog",
): Promise<{ server: TmuxServer; pane: string; file: string }> {
  const [server] = await TmuxServer.start(dir, ["sleep", "600"]);
  const file = join(dir, "submissions.jsonl");
  try {
    const pane = await server.reader(file, mode);
    return { server, pane, file };
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * Starts waking `pane` with `text` and a 3 s pause before Enter, and resolves (with the wake's own
 * promise) once the text is pasted: the tests act in that pause.
 */
async function pastedWake(
  server: { tmux: (args: string[]) => Promise<string>; options: TmuxWakeOptions },
  pane: string,
  text: string,
): Promise<{ waking: ReturnType<typeof wakeTmux> }> {
  const waking = wakeTmux(pane, text, { ...server.options, enterDelayMs: 3000 });
  await waitUntil(async () =>
    (await server.tmux(["capture-pane", "-p", "-t", pane])).includes(
      `composer: "[crosstalk] ${text}"`,
    ) || undefined
  );
  // In an object: an async function's returned promise would be awaited with it.
  return { waking };
}

Deno.test("wakeTmux types a multi-line message into a pane as one submission", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  const message = "alice -> bob in #general: the build is red\nsee line 2\n\n  and line 4";
  assert.equal(await paneState(pane, server.options), "ready");
  const result = await wakeTmux(pane, message, server.options);
  assert.deepEqual(result, { ok: true, typed: `[crosstalk] ${message}` });
  assert.deepEqual(await waitForSubmissions(file, 1), [`[crosstalk] ${message}`]);
});

Deno.test("wakeTmux reports a missing pane and types nothing", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  for (const missing of ["%999", "nosuch:0.0"]) {
    assert.equal(await paneState(missing, server.options), "missing");
    const result = await wakeTmux(missing, "hello", server.options);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, "missing", JSON.stringify(result));
    assert.equal(!result.ok && result.pasted, false, "a missing pane took nothing");
  }
  // The only thing the reader ever gets is this Enter: the wakes above reached no pane.
  await server.tmux(["send-keys", "-t", pane, "Enter"]);
  assert.deepEqual(await waitForSubmissions(file, 1), [""]);
});

Deno.test("wakeTmux reports a pane without a tmux server as missing", async () => {
  await using dir = await tempDir();
  const options = { socket: join(dir.path, "no-server"), ...FAST };
  assert.equal(await paneState("%0", options), "missing");
  const result = await wakeTmux("%0", "hello", options);
  assert.equal(!result.ok && result.reason, "missing", JSON.stringify(result));
});

Deno.test("wakeTmux refuses a pane in copy mode and types nothing into it", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  await server.tmux(["copy-mode", "-t", pane]);
  assert.equal(await paneState(pane, server.options), "busy");
  const refused = await wakeTmux(pane, "first wake", server.options);
  assert.equal(!refused.ok && refused.reason, "busy", JSON.stringify(refused));
  assert.equal(!refused.ok && refused.pasted, false);
  assert.match(!refused.ok ? refused.detail : "", /copy-mode/);

  await server.tmux(["send-keys", "-t", pane, "-X", "cancel"]);
  assert.equal(await paneState(pane, server.options), "ready");
  assert.deepEqual(await submissions(file), [], "nothing typed while in copy mode");
  const result = await wakeTmux(pane, "second wake", server.options);
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.deepEqual(await waitForSubmissions(file, 1), ["[crosstalk] second wake"]);
});

Deno.test("wakeTmux says the text may be in the pane when the pane went into copy mode between the paste and Enter", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  const waking = wakeTmux(pane, "pasted wake", { ...server.options, enterDelayMs: 3000 });
  // The paste shows in the reader's composer, waiting for its Enter.
  await waitUntil(async () =>
    (await server.tmux(["capture-pane", "-p", "-t", pane])).includes(
      `composer: "[crosstalk] pasted wake"`,
    ) || undefined
  );
  await server.tmux(["copy-mode", "-t", pane]);
  const result = await waking;
  assert.equal(!result.ok && result.reason, "failed", JSON.stringify(result));
  assert.equal(!result.ok && result.pasted, true, "typing it again would type it twice");
  assert.match(!result.ok ? result.detail : "", /^the text was pasted but not submitted/);
  assert.deepEqual(await submissions(file), [], "no Enter went in");
});

Deno.test("wakeTmux says nothing is left when the pane went away between the paste and Enter", async () => {
  await using dir = await tempDir();
  const { server, pane } = await withReader(dir.path);
  await using _server = server;
  const { waking } = await pastedWake(server, pane, "lost wake");
  await server.tmux(["kill-pane", "-t", pane]);
  const result = await waking;
  assert.equal(!result.ok && result.reason, "missing", JSON.stringify(result));
  assert.equal(!result.ok && result.pasted, false, "to be typed again once the agent is back");
});

Deno.test("wakeTmux says the text may be in the pane when tmux cannot be reached for the Enter after the paste", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  const { waking } = await pastedWake(server, pane, "stranded wake");
  // The server runs on, but its socket is not where the client looks (as when a /tmp cleaner
  // deleted it): tmux says "error connecting to …", which says nothing of the pane.
  const away = `${server.socket}.away`;
  await Deno.rename(server.socket, away);
  let result;
  try {
    result = await waking;
  } finally {
    await Deno.rename(away, server.socket);
  }
  assert.equal(!result.ok && result.reason, "failed", JSON.stringify(result));
  assert.equal(!result.ok && result.pasted, true, "typing it again would type it twice");
  assert.match(!result.ok ? result.detail : "", /error connecting to/);
  // And so it is: the text waits in the reader's composer, not submitted.
  assert.match(
    await server.tmux(["capture-pane", "-p", "-t", pane]),
    /composer: "\[crosstalk\] stranded wake"/,
  );
  assert.deepEqual(await submissions(file), [], "no Enter went in");
});

Deno.test("wakeTmux says nothing is left when the tmux server went away between the paste and Enter", async () => {
  await using dir = await tempDir();
  const { server, pane } = await withReader(dir.path);
  await using _server = server;
  const { waking } = await pastedWake(server, pane, "lost wake");
  // Its socket stays, and nobody listens on it: tmux says "no server running on …".
  await server.tmux(["kill-server"]);
  const result = await waking;
  assert.equal(!result.ok && result.reason, "missing", JSON.stringify(result));
  assert.equal(!result.ok && result.pasted, false, "the composer went with the server");
  assert.match(!result.ok ? result.detail : "", /no server running/);
});

Deno.test("wakeTmux refuses a pane synchronized with others, where Enter would reach them all", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  await server.tmux(["set-window-option", "-t", pane, "synchronize-panes", "on"]);
  const result = await wakeTmux(pane, "hello", server.options);
  assert.equal(!result.ok && result.reason, "busy", JSON.stringify(result));
  await server.tmux(["set-window-option", "-t", pane, "synchronize-panes", "off"]);
  await server.tmux(["send-keys", "-t", pane, "Enter"]);
  assert.deepEqual(await waitForSubmissions(file, 1), [""]);
});

Deno.test("wakeTmux refuses a pane that shows a confirmation dialog", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path, "dialog");
  await using _server = server;
  assert.equal(await paneState(pane, server.options), "dialog");
  const result = await wakeTmux(pane, "wake up", server.options);
  assert.equal(!result.ok && result.reason, "dialog", JSON.stringify(result));
  assert.match(!result.ok ? result.detail : "", /Do you want to proceed\?/);
  // Only this Enter reaches the program: the refused wake typed nothing.
  await server.tmux(["send-keys", "-t", pane, "Enter"]);
  assert.deepEqual(await waitForSubmissions(file, 1), [""]);
});

Deno.test("wakeTmux cuts a message longer than maxChars and appends the pointer", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  const pointer = "full message: crosstalk message show 01J0ABC";
  const message = "x".repeat(50) + "\n" + "y".repeat(200);
  const result = await wakeTmux(pane, message, { ...server.options, maxChars: 120, pointer });
  const expected = "[crosstalk] " + "x".repeat(50) + "\n" + "y".repeat(11) + "…\n" + pointer;
  assert.equal(expected.length, 120);
  assert.deepEqual(result, { ok: true, typed: expected });
  assert.deepEqual(await waitForSubmissions(file, 1), [expected]);
});

Deno.test("wakeTmux types tmux key names and shell metacharacters literally", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  const message = "C-c; $(rm -rf x) `id` Enter \\; send-keys -t %0 C-d 'q' \"$HOME\" | & > y";
  const result = await wakeTmux(pane, message, { ...server.options, marker: "[ct]" });
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.deepEqual(await waitForSubmissions(file, 1), [`[ct] ${message}`]);
});

Deno.test("wakeTmux drops control characters that could end the paste early", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  const result = await wakeTmux(pane, "one\x1b[201~two\rthree\x03", server.options);
  assert.deepEqual(result, { ok: true, typed: "[crosstalk] one[201~two\nthree" });
  assert.deepEqual(await waitForSubmissions(file, 1), ["[crosstalk] one[201~two\nthree"]);
});

Deno.test("wakeTmux reports a missing tmux binary as failed", async () => {
  const result = await wakeTmux("%0", "hello", { tmux: "/nonexistent/tmux", ...FAST });
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.reason, "failed");
  assert.match(!result.ok ? result.detail : "", /not installed or not on PATH/);
  assert.equal(!result.ok && result.pasted, false);
  await assert.rejects(paneState("%0", { tmux: "/nonexistent/tmux" }), /not installed/);
});

Deno.test("wakeTmux rejects with the abort reason when its signal is aborted", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  const controller = new AbortController();
  controller.abort(new Error("stop now"));
  await assert.rejects(
    wakeTmux(pane, "hello", { ...server.options, signal: controller.signal }),
    /stop now/,
  );
  await server.tmux(["send-keys", "-t", pane, "Enter"]);
  assert.deepEqual(await waitForSubmissions(file, 1), [""]);
});

Deno.test("wakeTmux stopped between its paste and its Enter still presses Enter: the text is submitted once, not left in the composer", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  const controller = new AbortController();
  const waking = wakeTmux(pane, "cut short?", {
    ...server.options,
    enterDelayMs: 1500,
    signal: controller.signal,
  });
  await waitUntil(async () =>
    (await server.tmux(["capture-pane", "-p", "-t", pane])).includes(
      `composer: "[crosstalk] cut short?"`,
    ) || undefined
  );
  controller.abort(new Error("the agent was edited"));
  assert.deepEqual(await waking, { ok: true, typed: "[crosstalk] cut short?" });
  assert.deepEqual(await waitForSubmissions(file, 1), ["[crosstalk] cut short?"]);
});

Deno.test("wakeTmux stopped while it loads its text leaves no tmux buffer behind and pastes nothing", async () => {
  await using dir = await tempDir();
  const { server, pane, file } = await withReader(dir.path);
  await using _server = server;
  // tmux, with a pause after load-buffer (the text is in a buffer) for the test to stop the wake in.
  const loading = join(dir.path, "loading");
  const slow = join(dir.path, "slow-tmux");
  await Deno.writeTextFile(
    slow,
    [
      "#!/bin/sh",
      `case " $* " in *" load-buffer "*) tmux "$@"; code=$?; : > '${loading}'; sleep 0.5; exit $code;; esac`,
      'exec tmux "$@"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const controller = new AbortController();
  const waking = wakeTmux(pane, "never pasted", {
    ...server.options,
    tmux: slow,
    signal: controller.signal,
  });
  await waitUntil(() => Deno.stat(loading).then(() => true, () => undefined));
  controller.abort(new Error("the agent was disabled"));
  await assert.rejects(waking, /the agent was disabled/);
  assert.equal(await server.tmux(["list-buffers", "-F", "#{buffer_name}"]), "");
  await server.tmux(["send-keys", "-t", pane, "Enter"]);
  assert.deepEqual(await waitForSubmissions(file, 1), [""], "nothing was pasted");
});

Deno.test("wakeTmux rejects a pane that is empty or spans lines", async () => {
  await assert.rejects(wakeTmux("", "hello"), TypeError);
  await assert.rejects(wakeTmux("%1\nkill-server", "hello"), TypeError);
  await assert.rejects(paneState(" "), TypeError);
});

Deno.test("currentPane reads $TMUX_PANE", () => {
  assert.equal(currentPane({ TMUX_PANE: "%3" }), "%3");
  assert.equal(currentPane({ TMUX_PANE: "" }), undefined);
  assert.equal(currentPane({}), undefined);
});

Deno.test("currentSocket reads the socket, the first field, of $TMUX", () => {
  assert.equal(currentSocket({ TMUX: "/tmp/tmux-1000/default,4242,0" }), "/tmp/tmux-1000/default");
  assert.equal(currentSocket({ TMUX: "" }), undefined);
  assert.equal(currentSocket({ TMUX: ",4242,0" }), undefined);
  assert.equal(currentSocket({}), undefined);
});
