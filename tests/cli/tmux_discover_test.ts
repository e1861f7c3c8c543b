// `crosstalk agent discover [--add]` end to end: a real engine (`crosstalk serve`), the real CLI,
// a real live session (`crosstalk mcp`) and a real private tmux server whose panes run programs
// named like agent CLIs (they only wait) and a shell.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { TmuxServer } from "../_tmux.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";

/**
 * The engine of the transport "team" with the admin "boss". Its default tmux server is a private
 * one that does not run (its own `TMUX_TMPDIR`, no `$TMUX`).
 */
async function engineIn(home: string): Promise<EngineProcess> {
  const { root, state } = namedTransport(home);
  await makeTransport(root, "providers: {}\n");
  const engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: {
      CROSSTALK_INIT_USERNAME: "boss",
      CROSSTALK_INIT_PASSPHRASE: "the boss passphrase",
      XDG_DATA_HOME: join(home, ".local", "share"),
      TMUX_TMPDIR: join(home, "no-tmux"),
      TMUX: "",
    },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  return engine;
}

function cli(home: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCrosstalk([...args, "--containername", "team"], { home, env });
}

async function ok(home: string, args: string[], env: Record<string, string> = {}) {
  const r = await cli(home, args, env);
  assert.equal(r.code, 0, `crosstalk ${args.join(" ")}: ${r.stderr}`);
  return r;
}

async function paneNames(home: string): Promise<string[]> {
  const r = await ok(home, ["agent", "panes", "--json"]);
  return (JSON.parse(r.stdout) as { name: string }[]).map((a) => a.name);
}

Deno.test("agent discover proposes each free pane with the agent add line that registers it, skips registered, live, dead and own panes, and --add registers the rest (an error on one does not stop the others)", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const folder = await Deno.realPath(home);
  await using tmux = new TmuxServer(home);
  await using _engine = await engineIn(home);
  const gemini = await tmux.program("My App!", "gemini", folder);
  const aider = await tmux.program("aider", "aider", folder);
  const claude = await tmux.program("claude-app", "claude", folder);
  const live = await tmux.program("gem", "gemini", folder);
  const grok = await tmux.program("typed", "grok", folder);
  const codex = await tmux.program("work", "codex", folder);
  const shell = await tmux.run(
    ...["split-window", "-t", "=work:", "-c", folder, "-P", "-F", "#{pane_id}", "--", "sh"],
  );
  await tmux.running(shell, "sh");
  await tmux.run("set-option", "-gw", "remain-on-exit", "on");
  const dead = await tmux.run(
    ...["new-session", "-d", "-s", "zz", "-P", "-F", "#{pane_id}", "--", "true"],
  );
  await waitUntil(async () =>
    (await tmux.run("display-message", "-p", "-t", dead, "#{pane_dead}")) === "1"
  );

  await ok(home, ["agent", "add", "typist", "--tmux", "typed", "--socket", tmux.socket]);
  // A live session running in the pane "gem": `crosstalk mcp` records $TMUX_PANE.
  await using _session = await McpSession.start(home, [
    ...["--containername", "team", "--name", "gem", "--agent", "gemini", "--wake", "pull"],
  ], { env: { TMUX: `${tmux.socket},0,0`, TMUX_PANE: live } });
  await waitUntil(async () => (await liveNames(home)).includes("gem"));

  // Run from the shell pane of "work": that server, and that pane is the user's own.
  const inside = { TMUX: `${tmux.socket},1,0`, TMUX_PANE: shell };
  const shown = await ok(home, ["agent", "discover"], inside);
  const lines = shown.stdout.split("\n");
  assert.match(lines[0]!, /^NAME +TARGET +PANE +AGENT +COMMAND +FOLDER$/);
  const rows = lines.slice(1, 9).map((l) => l.split(/ {2,}/));
  // A dead pane has no folder; tmux names the program it ran (`true`).
  assert.deepEqual(rows.pop(), ["(dead)", "zz", dead, "tmux", "true"]);
  assert.deepEqual(rows, [
    ["My-App", gemini, gemini, "gemini", "gemini", folder],
    ["aider", "aider", aider, "aider", "aider", folder],
    ["claude-app", "claude-app", claude, "claude", "claude", folder],
    ["(live session: gem)", "gem", live, "gemini", "gemini", folder],
    ["(registered: typist)", "typed", grok, "grok", "grok", folder],
    ["work", codex, codex, "codex", "codex", folder],
    ["(your own pane)", shell, shell, "shell", "sh", folder],
  ]);
  const adds = lines.filter((l) => l.startsWith("  crosstalk agent add "));
  const tail = `--socket ${tmux.socket} --containername team`;
  assert.deepEqual(adds, [
    `  crosstalk agent add My-App --tmux ${gemini} --agent gemini ${tail}`,
    `  crosstalk agent add aider --tmux aider --agent aider ${tail}`,
    `  crosstalk agent add claude-app --tmux claude-app --agent claude ${tail}`,
    `  crosstalk agent add work --tmux ${codex} --agent codex ${tail}`,
  ]);
  assert.match(shown.stdout, /\nTo register each \(or all at once: run this again with --add\):\n/);
  assert.deepEqual(await paneNames(home), ["typist"], "nothing registered by discover");

  // A printed line registers its pane as it is.
  const line = adds[1]!.trim().split(" ");
  assert.equal(line[0], "crosstalk");
  const added = await runCrosstalk(line.slice(1), { home });
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, new RegExp(`Registered aider: .*tmux aider \\(pane ${aider}, up\\)`));

  // The registrations cannot be saved: each free pane is tried and reported, and the run fails.
  const file = join(namedTransport(home).state, "tmux-agents.json");
  await Deno.remove(file);
  await Deno.mkdir(file);
  const failing = await cli(home, ["agent", "discover", "--add"], inside);
  assert.equal(failing.code, 1, failing.stderr);
  const errors = failing.stderr.trim().split("\n");
  assert.equal(errors.length, 3, failing.stderr);
  for (
    const [i, [name, target]] of [["My-App", gemini], ["claude-app", "claude-app"], [
      "work",
      codex,
    ]].entries()
  ) {
    assert.ok(errors[i]!.startsWith(`Cannot register ${name} (tmux ${target}): `), errors[i]);
  }
  await Deno.remove(file);

  const adding = await ok(home, ["agent", "discover", "--add"], inside);
  assert.deepEqual(adding.stdout.trim().split("\n"), [
    `Registered My-App: messages to it are typed into tmux ${gemini} (pane ${gemini}, up)`,
    `Registered claude-app: messages to it are typed into tmux claude-app (pane ${claude}, up)`,
    `Registered work: messages to it are typed into tmux ${codex} (pane ${codex}, up)`,
    `Skipped aider (pane ${aider}, aider): registered: aider`,
    `Skipped gem (pane ${live}, gemini): live session: gem`,
    `Skipped typed (pane ${grok}, grok): registered: typist`,
    `Skipped ${shell} (pane ${shell}, sh): your own pane`,
    `Skipped zz (pane ${dead}, true): dead`,
  ]);
  assert.deepEqual(await paneNames(home), ["aider", "claude-app", "My-App", "typist", "work"]);
  const panes = JSON.parse((await ok(home, ["agent", "panes", "--json"])).stdout) as {
    name: string;
    agent: string;
    socket?: string;
    up: boolean;
    tmux_server?: { pid: number; start_time: number };
  }[];
  const work = panes.find((p) => p.name === "work");
  assert.deepEqual([work?.agent, work?.socket, work?.up], ["codex", tmux.socket, true]);
  // Registered by its pane id: with the run of its tmux server, so that a later server's pane of
  // that id is never typed into.
  const [pid, started] = (await tmux.run("display-message", "-p", "#{pid} #{start_time}")).split(
    " ",
  );
  assert.deepEqual(work?.tmux_server, { pid: Number(pid), start_time: Number(started) });
  const byName = panes.find((p) => p.name === "claude-app");
  assert.equal(byName?.tmux_server, undefined, "a session name needs none");

  // Everything is taken now: nothing to add, and the JSON says who has each pane.
  const again = await ok(home, ["agent", "discover", "--add", "--json"], inside);
  const report = JSON.parse(again.stdout);
  assert.deepEqual([report.added, report.failed], [[], []]);
  assert.equal(report.socket, tmux.socket);
  const taken = report.candidates.map((c: { taken: { name: string } | null }) => c.taken?.name);
  assert.deepEqual(taken, [
    "My-App",
    "aider",
    "claude-app",
    "gem",
    "typist",
    "work",
    undefined,
    undefined,
  ]);
});

Deno.test("agent discover counts the pane of a live session (crosstalk mcp in tmux) as taken only on the tmux server of its $TMUX, not a pane of that id on another server", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const folder = await Deno.realPath(home);
  await Deno.mkdir(join(home, "a"));
  await Deno.mkdir(join(home, "b"));
  await using a = new TmuxServer(join(home, "a"));
  await using b = new TmuxServer(join(home, "b"));
  await using _engine = await engineIn(home);
  const pane = await a.program("gem", "gemini", folder);
  assert.equal(await b.program("other", "codex", folder), pane, "each server starts at %0");
  await using _session = await McpSession.start(home, [
    ...["--containername", "team", "--name", "gem", "--agent", "gemini", "--wake", "pull"],
  ], { env: { TMUX: `${a.socket},0,0`, TMUX_PANE: pane } });
  await waitUntil(async () => (await liveNames(home)).includes("gem"));

  const discover = async (socket: string) => {
    const r = await ok(home, ["agent", "discover", "--socket", socket, "--json"]);
    return (JSON.parse(r.stdout).candidates as { pane: string; name: string | null }[])
      .map((c) => [c.pane, c.name]);
  };
  assert.deepEqual(await discover(a.socket), [[pane, null]]);
  assert.deepEqual(await discover(b.socket), [[pane, "other"]]);
});

/** The names of this machine's live agents. */
async function liveNames(home: string): Promise<string[]> {
  const credential = JSON.parse(
    await Deno.readTextFile(join(namedTransport(home).state, "cli-credential.json")),
  ) as { server: string; token: string };
  const response = await fetch(`${credential.server}/api/live`, {
    headers: { Authorization: `Bearer ${credential.token}` },
  });
  const { agents } = await response.json() as { agents: { name: string; online: boolean }[] };
  return agents.filter((a) => a.online).map((a) => a.name);
}

Deno.test("agent discover finds nothing where no tmux server runs, and is refused to a user who is not an admin", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await engineIn(home);
  // The engine's default server (nothing runs there).
  const none = await ok(home, ["agent", "discover"]);
  assert.equal(none.stdout, "");
  assert.equal(none.stderr, "No tmux panes: no tmux server runs on the engine's default socket\n");
  const socket = join(home, "none.sock");
  const json = await ok(home, ["agent", "discover", "--socket", socket, "--json"]);
  assert.deepEqual(JSON.parse(json.stdout), { socket, candidates: [] });
  const add = await ok(home, ["agent", "discover", "--add"], { TMUX: `${socket},1,0` });
  assert.equal(add.stdout, "");
  assert.equal(add.stderr, `No tmux panes: no tmux server runs on ${socket}\n`);

  const { server, token } = JSON.parse(
    await Deno.readTextFile(join(namedTransport(home).state, "cli-credential.json")),
  ) as { server: string; token: string };
  await fetch(`${server}/api/users`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ username: "ann", passphrase: "ann's passphrase" }),
  }).then((r) => r.body?.cancel());
  const login = await runCrosstalk(
    ["--server", server, "--profile", "ann", "auth", "login", "--username", "ann"],
    { home, stdin: "ann's passphrase\n" },
  );
  assert.equal(login.code, 0, login.stderr);
  for (const extra of [[], ["--add"]]) {
    const refused = await runCrosstalk(
      ["--server", server, "--profile", "ann", "agent", "discover", "--socket", socket, ...extra],
      { home },
    );
    assert.equal(refused.code, 77, refused.stderr);
    assert.match(refused.stderr, /^error: Only an admin may list tmux pane candidates/);
  }
});
