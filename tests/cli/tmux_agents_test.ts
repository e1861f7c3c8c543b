// Tmux agents end to end: a real engine (`crosstalk serve`), the real CLI, and a real tmux server
// whose panes run a stand-in agent TUI that records each submission. A pane registered with
// `crosstalk agent add` gets each message typed whole by the engine, and nothing else is needed in
// the pane: no MCP server, no relay.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { inPane, READER, sentAtOf, submissions, TmuxServer } from "../_tmux.ts";

async function engineIn(home: string): Promise<EngineProcess> {
  const { root, state } = namedTransport(home);
  await Deno.stat(root).catch(() => makeTransport(root, "providers: {}\n"));
  const engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: {
      CROSSTALK_INIT_USERNAME: "boss",
      CROSSTALK_INIT_PASSPHRASE: "the boss passphrase",
      // So that the engine names the transport as the CLI does (--containername team).
      XDG_DATA_HOME: join(home, ".local", "share"),
    },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  return engine;
}

function cli(home: string, ...args: string[]): Promise<CliResult> {
  return runCrosstalk([...args, "--containername", "team"], { home });
}

async function ok(home: string, ...args: string[]): Promise<string> {
  const r = await cli(home, ...args);
  assert.equal(r.code, 0, `crosstalk ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function send(home: string, to: string, body: string): Promise<string> {
  return (await ok(home, "message", "send", "--to", to, body)).trim();
}

/**
 * Waits until the reader has recorded `n` submissions, and returns them; a failure shows what the
 * engine logged about its live agents.
 */
async function submitted(file: string, n: number, engine?: EngineProcess): Promise<string[]> {
  try {
    return await waitUntil(
      async () => {
        const all = await submissions(file);
        return all.length >= n ? all : undefined;
      },
      15_000,
      `${n} submissions in ${file}`,
    );
  } catch (error) {
    const records = engine?.records.filter((r) => /^(live|tmux_agent)\./.test(r.event)) ?? [];
    throw new Error(
      `${error instanceof Error ? error.message : error}; got ${
        JSON.stringify(await submissions(file))
      }; engine: ${JSON.stringify(records)}`,
    );
  }
}

/** The delivery row of `to` for message `id`, once it shows `state`. */
function delivery(home: string, id: string, to: string, state: string) {
  return waitUntil(
    async () => {
      const r = await cli(home, "message", "status", id, "--json");
      const rows = JSON.parse(r.stdout).deliveries as {
        to: string;
        state: string;
        detail?: string;
      }[];
      return rows.find((d) => d.to === to && d.state === state);
    },
    15_000,
    `${to} ${state} for ${id}`,
  );
}

/** Calls the engine's API with the credential it leaves for the local CLI. */
async function api(home: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const credential = JSON.parse(
    await Deno.readTextFile(join(namedTransport(home).state, "cli-credential.json")),
  ) as { server: string; token: string };
  const response = await fetch(`${credential.server}${path}`, {
    method,
    headers: { Authorization: `Bearer ${credential.token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return await response.json();
}

/** Makes "ann", a user who is not an admin, and logs the CLI in as her (`--profile ann`). */
async function loginAnn(home: string): Promise<void> {
  await api(home, "POST", "/api/users", { username: "ann", passphrase: "ann's passphrase" });
  const { server } = JSON.parse(
    await Deno.readTextFile(join(namedTransport(home).state, "cli-credential.json")),
  ) as { server: string };
  const login = await runCrosstalk(
    ["--server", server, "--profile", "ann", "auth", "login", "--username", "ann"],
    { home, stdin: "ann's passphrase\n" },
  );
  assert.equal(login.code, 0, login.stderr);
}

async function panes(home: string) {
  return JSON.parse(await ok(home, "agent", "panes", "--json")) as {
    name: string;
    target: string;
    pane: string | null;
    up: boolean;
    enabled: boolean;
    unread: number;
  }[];
}

Deno.test("agent add: a message to the name is typed into the pane whole, multi-line, as one submission, and counts as read", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const typed = join(home, "typed.jsonl");
  const pane = await tmux.reader("aider", typed);
  await using engine = await engineIn(home);

  const added = await ok(
    home,
    "agent",
    "add",
    "typist",
    "--tmux",
    "aider",
    "--agent",
    "aider",
    "--enter-delay",
    "50",
    "--socket",
    tmux.socket,
  );
  assert.match(added, new RegExp(`Registered typist: .*tmux aider \\(pane ${pane}, up\\)`));
  // A live agent of this machine, online while its pane is up.
  const peer = await waitUntil(async () => {
    const { agents } = await api(home, "GET", "/api/peers") as {
      agents: Record<string, unknown>[];
    };
    return agents.find((a) => a.name === "typist" && a.online);
  });
  assert.equal(peer.kind, "pane");
  assert.equal(peer.agent, "aider");
  assert.equal(peer.tmux, pane);

  const id = await send(home, "typist", "line one\nline two");
  const [first] = await submitted(typed, 1, engine);
  const channel = first!.match(/message ([0-9a-f-]{36})\//)?.[1];
  assert.ok(channel, first);
  assert.equal(
    first,
    `[crosstalk] boss -> typist in #general ${sentAtOf(id)}, message ${channel}/${id}:\n` +
      "line one\nline two\n" +
      `(reply from a shell: crosstalk message send --containername team --channel ${channel} ` +
      `--re ${id} --from typist --to boss "…")`,
  );
  await delivery(home, id, "typist", "read");
  assert.equal((await panes(home))[0]!.unread, 0);

  // The reply command typed into the pane works as it is, from a shell on this machine.
  const reply = await ok(
    home,
    "message",
    "send",
    "--channel",
    channel,
    "--re",
    id,
    "--from",
    "typist",
    "--to",
    "boss",
    "done",
  );
  const replied = await delivery(home, id, "typist", "replied");
  assert.equal(replied.state, "replied");
  assert.ok(reply.trim().length > 0);

  // `all` reaches it too; [no-reply] says so, and no reply command is offered.
  await send(home, "all", "lunch is here [no-reply]");
  const second = (await submitted(typed, 2, engine))[1]!;
  assert.match(
    second,
    /^\[crosstalk\] boss -> all in #general at \d\d:\d\d UTC, message .*:\nlunch is here/,
  );
  assert.match(second, /\n\(no reply needed\)$/);
  assert.doesNotMatch(second, /message send/);
});

Deno.test("agent add inside tmux: a message over the cap is typed up to it, with the command that shows it whole", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const typed = join(home, "typed.jsonl");
  await tmux.reader("grok", typed);
  await using engine = await engineIn(home);
  // Run inside tmux: the server of $TMUX is the one recorded.
  const added = await runCrosstalk(
    ["agent", "add", "long", "--tmux", "grok", "--json", "--containername", "team"],
    { home, env: { TMUX: `${tmux.socket},4242,0` } },
  );
  assert.equal(added.code, 0, added.stderr);
  assert.equal(JSON.parse(added.stdout).socket, tmux.socket);

  const body = Array.from({ length: 120 }, (_, i) => `line ${i} ${"x".repeat(60)}`).join("\n");
  const id = await send(home, "long", body);
  const [text] = await submitted(typed, 1, engine);
  assert.ok(Array.from(text!).length <= 4000, `${Array.from(text!).length} characters typed`);
  assert.match(text!, /\nline 0 x+\nline 1 x+\n/);
  assert.doesNotMatch(text!, /line 119/);
  const channel = text!.match(/message ([0-9a-f-]{36})\//)![1];
  assert.match(
    text!,
    new RegExp(
      `…\\n\\(cut at 4000 characters; the whole message: crosstalk message show --containername team ${channel}/${
        id.replaceAll(".", "\\.")
      }\\)\\n\\(reply from a shell: `,
    ),
  );
  await delivery(home, id, "long", "read");
  // The pointer works.
  const shown = await ok(home, "message", "show", `${channel}/${id}`);
  assert.match(shown, /line 119/);
});

Deno.test("agent add: a pane that is missing is reported unwoken with the reason, and typed into once it appears", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const typed = join(home, "typed.jsonl");
  // A server with another session only: the target does not exist yet (and "late" is not a
  // prefix match for "later").
  await tmux.reader("later", join(home, "other.jsonl"));
  await using engine = await engineIn(home);
  const added = await ok(home, "agent", "add", "late", "--tmux", "late", "--socket", tmux.socket);
  assert.match(added, /no such pane now/);
  assert.equal((await panes(home))[0]!.up, false);

  const first = await send(home, "late", "first");
  const second = await send(home, "late", "second");
  const row = await delivery(home, first, "late", "unwoken");
  assert.match(row.detail ?? "", /tmux target late missing/);
  assert.equal((await panes(home))[0]!.unread, 2);

  await tmux.readerAppearing("late", typed);
  const texts = await submitted(typed, 2, engine);
  assert.match(texts[0]!, /\nfirst\n/);
  assert.match(texts[1]!, /\nsecond\n/);
  await delivery(home, first, "late", "read");
  await delivery(home, second, "late", "read");
  const [view] = await panes(home);
  assert.equal(view!.up, true);
  assert.equal(view!.unread, 0);
  assert.deepEqual(await submissions(join(home, "other.jsonl")), [], "nothing typed elsewhere");
});

Deno.test("agent disable keeps the inbox and types nothing; enable types what waited; remove forgets the pane", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const typed = join(home, "typed.jsonl");
  const pane = await tmux.reader("work", typed);
  await using engine = await engineIn(home);
  // Registered by pane id this time.
  await ok(home, "agent", "add", "worker", "--tmux", pane, "--socket", tmux.socket);

  assert.match(await ok(home, "agent", "disable", "worker"), /worker is disabled/);
  const held = await send(home, "worker", "while you were away");
  await waitUntil(async () => (await panes(home))[0]!.unread === 1);
  await engine.waitFor((r) => r.event === "message.new" && `${r.ref}`.endsWith(held));
  assert.deepEqual(await submissions(typed), []);

  assert.match(await ok(home, "agent", "enable", "worker"), /worker is enabled/);
  assert.match((await submitted(typed, 1, engine))[0]!, /\nwhile you were away\n/);
  await delivery(home, held, "worker", "read");

  const listed = await ok(home, "agent", "panes");
  assert.match(listed, /NAME\s+TARGET\s+PANE\s+ENABLED\s+UNREAD/);
  assert.match(listed, new RegExp(`worker\\s+%\\d+\\s+%\\d+ up\\s+yes\\s+0`));

  assert.match(await ok(home, "agent", "remove", "worker"), /Removed worker/);
  assert.deepEqual(await panes(home), []);
  await send(home, "worker", "anyone?");
  const r = await cli(home, "agent", "remove", "worker");
  assert.equal(r.code === 0, false);
  assert.match(r.stderr, /No tmux agent "worker"/);
  assert.equal((await submissions(typed)).length, 1, "nothing typed after the removal");
});

Deno.test("agent add refuses bad names, targets with shell metacharacters, a window or pane that is not there and taken names, and changes nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  await tmux.program("aider", "sleep", home);
  await using _engine = await engineIn(home);
  const on = ["--socket", tmux.socket];
  const bad: [string[], RegExp][] = [
    [["ok", "--tmux", "aider:1", ...on], /tmux session "aider" has no window 1 \(windows: 0 \(/],
    [["ok", "--tmux", "aider:0.1", ...on], /window 0 of tmux session "aider" has no pane 1/],
    [["ok", "--tmux", "%7", ...on], /the tmux server of ".*" has no pane %7 \(panes: %0\)/],
    [["..", "--tmux", "x"], /Invalid agent name "\.\."/],
    [["a/b", "--tmux", "x"], /Invalid agent name/],
    [["all", "--tmux", "x"], /Invalid agent name "all"/],
    [["boss", "--tmux", "x"], /"boss" is taken/],
    [["ok", "--tmux", "x; rm -rf ~"], /Invalid tmux target "x; rm -rf ~"/],
    [["ok", "--tmux", "$(touch pwned)"], /Invalid tmux target/],
    [["ok", "--tmux", "../x"], /Invalid tmux target/],
    [["ok", "--tmux", "x", "--enter-delay", "-1"], /--enter-delay/],
    [["ok", "--tmux", "x", "--socket", "relative/sock"], /Invalid tmux socket/],
    [["ok", "--tmux", "%3", "--revive", "aider"], /Cannot revive tmux target "%3".*a pane id/],
    [["ok", "--tmux", "x:1.0", "--revive", "aider"], /Cannot revive tmux target "x:1\.0"/],
    [["ok", "--tmux", "x", "--revive", "aider", "--cwd", "rel/dir"], /Invalid cwd "rel\/dir"/],
    [["ok", "--tmux", "x", "--revive", "aider", "--cwd", join(home, "none")], /no such folder/],
    [["ok", "--tmux", "x", "--cwd", home], /"cwd" is for a revive command/],
    [["ok", "--tmux", "x", "--revive", "a\nb"], /Invalid revive command/],
    [["ok", "--tmux", "x", "--revive", " "], /Invalid revive command/],
    [["ok", "--tmux", "x", "--revive", "a", "--revive-grace", "1e3"], /--revive-grace/],
    [["ok", "--tmux", "x", "--revive", "a", "--revive-timeout", "10"], /--revive-timeout/],
    [
      ["ok", "--tmux", "x", "--marker", "\x1b[31m[a]"],
      /Invalid marker "\\u001b\[31m\[a\]": at most 40 printable/,
    ],
    [["ok", "--tmux", "x", "--max-chars", "100"], /Invalid max chars 100: .* from 200 to 100000/],
    [["ok", "--tmux", "x", "--max-chars", "4k"], /Invalid --max-chars "4k": a whole number/],
    [["ok", "--tmux", "x", "--marker", "", "--max-chars", "499"], /\(at least 500\)/],
  ];
  for (const [args, error] of bad) {
    const r = await cli(home, "agent", "add", ...args);
    assert.notEqual(r.code, 0, args.join(" "));
    assert.match(r.stderr, error, args.join(" "));
  }
  for (const verb of ["remove", "enable", "disable"]) {
    const r = await cli(home, "agent", verb, "..");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Invalid agent name "\.\."/);
  }
  assert.deepEqual(await panes(home), []);
  assert.ok(!(await Deno.stat(join(home, "pwned")).catch(() => undefined)));
  await assert.rejects(
    Deno.stat(join(namedTransport(home).state, "tmux-agents.json")),
    Deno.errors.NotFound,
  );
});

Deno.test("tmux agents survive an engine restart, with what waits in their inbox", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const typed = join(home, "typed.jsonl");
  const first = await engineIn(home);
  try {
    await ok(home, "agent", "add", "keeper", "--tmux", "keep", "--socket", tmux.socket);
    await ok(home, "agent", "add", "sleeper", "--tmux", "keep", "--socket", tmux.socket);
    await ok(home, "agent", "disable", "sleeper");
    const id = await send(home, "keeper", "kept across the restart");
    await delivery(home, id, "keeper", "unwoken");
  } finally {
    await first.stop();
  }
  await using engine = await engineIn(home);
  const after = await panes(home);
  assert.deepEqual(
    after.map((a) => [a.name, a.target, a.enabled, a.unread]),
    [["keeper", "keep", true, 1], ["sleeper", "keep", false, 0]],
  );
  await tmux.readerAppearing("keep", typed);
  assert.match((await submitted(typed, 1, engine))[0]!, /\nkept across the restart\n/);
  await waitUntil(async () => (await panes(home)).find((a) => a.name === "keeper")!.unread === 0);
  assert.equal((await submissions(typed)).length, 1, "only the enabled agent types");
});

/** `text` quoted for a POSIX shell. */
function sh(text: string): string {
  return `'${text.replaceAll("'", `'\''`)}'`;
}

/** A server of its own, started without a config, so that the engine's sessions get none. */
async function tmuxServerIn(home: string): Promise<TmuxServer> {
  const tmux = new TmuxServer(home);
  await tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "keepalive");
  return tmux;
}

Deno.test("agent add --revive: a message to an agent whose session is gone starts it with the revive command in --cwd, and is typed whole once it is up, then read", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = await tmuxServerIn(home);
  const typed = join(home, "typed.jsonl");
  await Deno.writeTextFile(typed, ""); // the reader empties it again once it runs
  const work = join(home, "work");
  await Deno.mkdir(work);
  await using engine = await engineIn(home);
  const command = `${sh(Deno.execPath())} run -A ${sh(READER)} ${sh(typed)}`;
  const added = await ok(
    home,
    ...["agent", "add", "phoenix", "--tmux", "phoenix", "--socket", tmux.socket],
    ...["--revive", command, "--cwd", work, "--revive-grace", "1500", "--enter-delay", "50"],
  );
  assert.match(added, /Registered phoenix: .*\(no such pane now: revived when a message waits\)/);
  const [view] = await panes(home) as (Awaited<ReturnType<typeof panes>>[0] & {
    revive?: string;
    cwd?: string;
    revivable: boolean;
  })[];
  assert.deepEqual([view!.up, view!.revivable, view!.revive, view!.cwd], [
    false,
    true,
    command,
    work,
  ]);
  assert.match(
    await ok(home, "agent", "panes"),
    /UNREAD\s+AGENT\s+MARKER\s+MAX\s+REVIVE\n.*down.*tmux\s+\[crosstalk\]\s+4000\s+'/,
  );

  const id = await send(home, "phoenix", "wake up\nplease");
  const [text] = await submitted(typed, 1, engine);
  assert.match(
    text!,
    /^\[crosstalk\] boss -> phoenix in #general at \d\d:\d\d UTC, message [^\n]*:\nwake up\nplease\n\(reply from a shell: /,
  );
  await delivery(home, id, "phoenix", "read");
  assert.equal(
    await tmux.run("display-message", "-p", "-t", "=phoenix:", "#{pane_current_path}"),
    work,
  );
  // Up for good: remain-on-exit, which caught a failing start, is off again.
  assert.equal(
    await tmux.run("show-options", "-w", "-v", "-t", "=phoenix:", "remain-on-exit"),
    "",
  );
  const [up] = await panes(home);
  assert.equal(up!.up, true);

  // The next message goes to the agent that runs: no second revive.
  await send(home, "phoenix", "again");
  assert.match((await submitted(typed, 2, engine))[1]!, /\nagain\n/);
  assert.equal(engine.records.filter((r) => r.event === "tmux_agent.reviving").length, 1);
  assert.equal(engine.records.filter((r) => r.event === "tmux_agent.revived").length, 1);
});

Deno.test("agent add --revive: a revive that fails is reported unwoken with the exit status, the message waits, enable tries again once fixed, remove stops it", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = await tmuxServerIn(home);
  const typed = join(home, "typed.jsonl");
  await Deno.writeTextFile(typed, "");
  const ready = join(home, "ready");
  await using engine = await engineIn(home);
  await ok(
    home,
    "agent",
    "add",
    "broken",
    "--tmux",
    "broken",
    "--socket",
    tmux.socket,
    "--revive",
    "exit 3",
  );
  const fixable = `test -e ${sh(ready)} && exec ${sh(Deno.execPath())} run -A ${sh(READER)} ${
    sh(typed)
  }`;
  await ok(
    home,
    ...["agent", "add", "fixable", "--tmux", "fixable", "--socket", tmux.socket],
    ...["--revive", fixable, "--revive-grace", "1500", "--enter-delay", "50"],
  );

  const failed = async (id: string, to: string, reason: RegExp) => {
    let seen: unknown;
    return await waitUntil(
      async () => {
        const r = await cli(home, "message", "status", id, "--json");
        const rows = JSON.parse(r.stdout).deliveries as {
          to: string;
          state: string;
          detail?: string;
        }[];
        seen = rows;
        return rows.find((d) =>
          d.to === to && d.state === "unwoken" && reason.test(d.detail ?? "")
        );
      },
      15_000,
      `${to} unwoken with ${reason}`,
    ).catch((error) => {
      throw new Error(`${error.message}; got ${JSON.stringify(seen)}`);
    });
  };
  const toBroken = await send(home, "broken", "are you there?");
  const row = await failed(
    toBroken,
    "broken",
    /^tmux target broken missing: .*; revive failed: the revive command ended \(exit status (3|unknown)\) \(revived at most once a minute\)$/,
  );
  assert.ok(row);
  const toFixable = await send(home, "fixable", "when you can");
  await failed(
    toFixable,
    "fixable",
    /revive failed: the revive command ended \(exit status (1|unknown)\)/,
  );
  // Nothing left behind: the dead panes of the failed starts are gone; the messages wait.
  const sessions = await tmux.run("list-sessions", "-F", "#{session_name}");
  assert.deepEqual(sessions.split("\n"), ["keepalive"]);
  const views = await panes(home);
  assert.deepEqual(views.map((v) => [v.name, v.up, v.unread]), [["broken", false, 1], [
    "fixable",
    false,
    1,
  ]]);

  // Fixed: enable (it is enabled) tries again at once rather than in a minute.
  await Deno.writeTextFile(ready, "");
  await ok(home, "agent", "enable", "fixable");
  assert.match((await submitted(typed, 1, engine))[0]!, /\nwhen you can\n/);
  await delivery(home, toFixable, "fixable", "read");

  // Removed: never revived again; its message stays on the bus.
  assert.match(await ok(home, "agent", "remove", "broken"), /Removed broken/);
  const channel = (await submissions(typed))[0]!.match(/message ([0-9a-f-]{36})\//)![1];
  assert.match(await ok(home, "message", "show", `${channel}/${toBroken}`), /are you there\?/);
  assert.equal(
    engine.records.filter((r) => r.event === "tmux_agent.reviving" && r.name === "broken").length,
    1,
  );
});

Deno.test("agent start: a down agent with a revive command is started now and typed into; an agent that is up is left as it is", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = await tmuxServerIn(home);
  const typed = join(home, "typed.jsonl");
  await Deno.writeTextFile(typed, "");
  await using engine = await engineIn(home);
  const command = `${sh(Deno.execPath())} run -A ${sh(READER)} ${sh(typed)}`;
  await ok(
    home,
    ...["agent", "add", "starter", "--tmux", "starter", "--socket", tmux.socket],
    ...["--revive", command, "--revive-grace", "1500", "--enter-delay", "50"],
  );
  assert.equal((await panes(home))[0]!.up, false);

  // No message waits: the start is the person's, and it answers once the agent is up.
  const started = await ok(home, "agent", "start", "starter");
  const pane = started.match(/^Started starter \(tmux starter, pane (%\d+)\): up\n$/)?.[1];
  assert.ok(pane, started);
  assert.equal(await tmux.run("display-message", "-p", "-t", "=starter:", "#{pane_id}"), pane);
  const [view] = await panes(home);
  assert.deepEqual([view!.up, view!.pane], [true, pane]);

  // (The grace is for the agent's start; the reader's, on a loaded machine, is awaited as well.)
  await waitUntil(async () =>
    (await tmux.run("capture-pane", "-p", "-t", pane)).includes("(reader ready)") || undefined
  );
  const id = await send(home, "starter", "you are up");
  assert.match((await submitted(typed, 1, engine))[0]!, /\nyou are up\n/);
  await delivery(home, id, "starter", "read");

  // Up: said so, and nothing is run or changed.
  const again = await ok(home, "agent", "start", "starter");
  assert.equal(again, `starter is already running (tmux starter, pane ${pane}); nothing changed\n`);
  const json = JSON.parse(await ok(home, "agent", "start", "starter", "--json"));
  assert.deepEqual([json.started, json.up, json.pane], [false, true, pane]);
  assert.equal(engine.records.filter((r) => r.event === "tmux_agent.reviving").length, 1);
  const sessions = await tmux.run("list-sessions", "-F", "#{session_name}");
  assert.deepEqual(sessions.split("\n").sort(), ["keepalive", "starter"]);
  assert.equal(await tmux.run("display-message", "-p", "-t", "=starter:", "#{pane_id}"), pane);
});

Deno.test("agent start refuses an agent without a revive command or disabled, a non-admin and an unknown name, and says why a start failed; a failed start does not hold back the next one", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = await tmuxServerIn(home);
  const runs = join(home, "runs.log");
  await using _engine = await engineIn(home);
  await ok(home, "agent", "add", "plain", "--tmux", "plain", "--socket", tmux.socket);
  await ok(
    home,
    ...["agent", "add", "broken", "--tmux", "broken", "--socket", tmux.socket],
    ...["--revive", `echo run >> ${sh(runs)}; exit 3`, "--revive-grace", "0"],
  );

  const plain = await cli(home, "agent", "start", "plain");
  assert.equal(plain.code, 64, plain.stderr);
  assert.equal(
    plain.stderr,
    'error: Cannot start tmux agent "plain": it has no revive command (give it one: crosstalk agent edit plain --revive COMMAND, API: PATCH "revive")\n',
  );
  const unknown = await cli(home, "agent", "start", "nobody");
  assert.equal(unknown.code, 66);
  assert.match(unknown.stderr, /No tmux agent "nobody"/);
  const bad = await cli(home, "agent", "start", "..");
  assert.match(bad.stderr, /Invalid agent name "\.\."/);

  // The command fails: the start is an error with the reason, and so is the next, run again at
  // once (the once-a-minute limit is for revives at a message).
  for (const n of [1, 2]) {
    const failed = await cli(home, "agent", "start", "broken");
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(
      failed.stderr,
      /^error: Cannot start tmux agent "broken": the revive command ended \(exit status (3|unknown)\)\n$/,
    );
    assert.equal((await Deno.readTextFile(runs)).trim().split("\n").length, n);
  }

  await ok(home, "agent", "disable", "broken");
  const disabled = await cli(home, "agent", "start", "broken");
  assert.equal(disabled.code, 64);
  assert.match(
    disabled.stderr,
    /Cannot start tmux agent "broken": it is disabled \(enable it first/,
  );

  // A user who is not an admin: refused, nothing run.
  await ok(home, "agent", "enable", "broken");
  await loginAnn(home);
  const asAnn = await runCrosstalk(["--profile", "ann", "agent", "start", "broken"], { home });
  assert.equal(asAnn.code, 77, asAnn.stderr);
  assert.match(asAnn.stderr, /Only an admin may change tmux agents/);
  assert.equal((await Deno.readTextFile(runs)).trim().split("\n").length, 2);
  assert.deepEqual(await tmux.run("list-sessions", "-F", "#{session_name}"), "keepalive");
});

Deno.test('agent add --marker --max-chars: a message is typed after that marker and cut at that cap, with the command that shows it whole; agent edit --marker "" types the next one without a marker', async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const typed = join(home, "typed.jsonl");
  const pane = await tmux.reader("grok", typed);
  await using engine = await engineIn(home);
  const added = JSON.parse(
    await ok(
      home,
      ...["agent", "add", "capped", "--tmux", "grok", "--socket", tmux.socket, "--json"],
      ...["--enter-delay", "50", "--marker", "[bus from boss]", "--max-chars", "700"],
    ),
  );
  assert.deepEqual([added.marker, added.max_chars], ["[bus from boss]", 700]);
  assert.match(
    await ok(home, "agent", "panes"),
    /MARKER\s+MAX\s+REVIVE\ncapped\s.*tmux\s+\[bus from boss\]\s+700\s+no\n/,
  );

  const body = Array.from({ length: 40 }, (_, i) => `line ${i} ${"x".repeat(60)}`).join("\n");
  const id = await send(home, "capped", body);
  const [text] = await submitted(typed, 1, engine);
  const length = Array.from(text!).length;
  assert.ok(length <= 700 && length > 640, `${length} characters typed`);
  assert.match(
    text!,
    /^\[bus from boss\] boss -> capped in #general at \d\d:\d\d UTC, message [^\n]*:\nline 0 x+\n/,
  );
  const channel = text!.match(/message ([0-9a-f-]{36})\//)![1];
  assert.match(
    text!,
    new RegExp(
      `…\\n\\(cut at 700 characters; the whole message: crosstalk message show --containername team ${channel}/${
        id.replaceAll(".", "\\.")
      }\\)\\n\\(reply from a shell: crosstalk message send [^\\n]*\\)$`,
    ),
  );
  await delivery(home, id, "capped", "read");

  assert.equal(
    await ok(home, "agent", "edit", "capped", "--marker", ""),
    `Changed capped: messages to it are typed into tmux grok (pane ${pane}, up)\n`,
  );
  await send(home, "capped", "plain");
  assert.match(
    (await submitted(typed, 2, engine))[1]!,
    /^boss -> capped in #general at \d\d:\d\d UTC, message .*:\nplain\n/,
  );
  assert.match(await ok(home, "agent", "panes"), /\(none\)\s+700\s+no\n/);
});

Deno.test("agent edit --tmux moves an agent to another pane: its unread messages are typed there, in order, and it stays enabled", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const elsewhere = join(home, "elsewhere.jsonl");
  await tmux.reader("elsewhere", elsewhere);
  await using engine = await engineIn(home);
  await ok(
    home,
    ...["agent", "add", "mover", "--tmux", "gone", "--socket", tmux.socket, "--enter-delay", "50"],
  );
  const first = await send(home, "mover", "first");
  const second = await send(home, "mover", "second");
  // The first waits, and the second behind it.
  await delivery(home, first, "mover", "unwoken");
  await waitUntil(async () => (await panes(home))[0]!.unread === 2 || undefined);

  const typed = join(home, "typed.jsonl");
  const pane = await tmux.reader("here", typed);
  assert.equal(
    await ok(home, "agent", "edit", "mover", "--tmux", "here"),
    `Changed mover: messages to it are typed into tmux here (pane ${pane}, up)\n`,
  );
  const texts = await submitted(typed, 2, engine);
  assert.match(
    texts[0]!,
    /^\[crosstalk\] boss -> mover in #general at \d\d:\d\d UTC, .*:\nfirst\n/,
  );
  assert.match(
    texts[1]!,
    /^\[crosstalk\] boss -> mover in #general at \d\d:\d\d UTC, .*:\nsecond\n/,
  );
  await delivery(home, first, "mover", "read");
  await delivery(home, second, "mover", "read");
  const [view] = await panes(home);
  assert.deepEqual([view!.target, view!.pane, view!.up, view!.enabled, view!.unread], [
    "here",
    pane,
    true,
    true,
    0,
  ]);
  assert.deepEqual(await submissions(elsewhere), [], "nothing typed elsewhere");

  // Disabled, it stays so through an edit, and says so.
  await ok(home, "agent", "disable", "mover");
  assert.match(
    await ok(home, "agent", "edit", "mover", "--enter-delay", "60"),
    /^Changed mover: .*; it is disabled: nothing is typed until it is enabled\n$/,
  );
  assert.equal((await panes(home))[0]!.enabled, false);

  // A revive command given, then taken away with its folder (disabled: nothing runs).
  const revivable = JSON.parse(
    await ok(home, "agent", "edit", "mover", "--revive", "exit 0", "--cwd", home, "--json"),
  );
  assert.deepEqual([revivable.revivable, revivable.revive, revivable.cwd], [true, "exit 0", home]);
  const plain = JSON.parse(await ok(home, "agent", "edit", "mover", "--no-revive", "--json"));
  assert.deepEqual([plain.revivable, "revive" in plain, "cwd" in plain], [false, false, false]);
  assert.deepEqual([plain.target, plain.enter_delay_ms, plain.enabled], ["here", 60, false]);
});

Deno.test("agent edit refuses an empty edit, an unknown name, a bad marker, cap or target, a window that is not there, and a user who is not an admin, and changes nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  await tmux.program("aider", "sleep", home);
  await using _engine = await engineIn(home);
  await ok(home, "agent", "add", "typist", "--tmux", "x");
  const file = join(namedTransport(home).state, "tmux-agents.json");
  const stored = await Deno.readTextFile(file);
  const bad: [string[], number, RegExp][] = [
    [["typist"], 64, /Nothing to change in tmux agent "typist": give at least one option/],
    [["nobody", "--marker", "[x]"], 66, /No tmux agent "nobody"/],
    [["..", "--marker", "[x]"], 65, /Invalid agent name "\.\."/],
    [["typist", "--marker", "a\nb"], 65, /Invalid marker "a\\nb"/],
    [
      ["typist", "--max-chars", "511"],
      65,
      /too small for the marker "\[crosstalk\]".*\(at least 512\)/,
    ],
    [["typist", "--max-chars", "lots"], 64, /Invalid --max-chars "lots": a whole number/],
    [["typist", "--cwd", home], 65, /"cwd" is for a revive command/],
    [["typist", "--tmux", "x;y"], 65, /Invalid tmux target "x;y"/],
    [
      ["typist", "--tmux", "aider:2", "--socket", tmux.socket],
      65,
      /^error: Cannot register tmux target "aider:2": tmux session "aider" has no window 2 \(windows: 0 \(/,
    ],
    [
      ["typist", "--revive", "aider", "--no-revive"],
      64,
      /--revive COMMAND or --no-revive, not both/,
    ],
  ];
  for (const [args, code, error] of bad) {
    const r = await cli(home, "agent", "edit", ...args);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, error, args.join(" "));
  }
  await loginAnn(home);
  const asAnn = await runCrosstalk(
    ["--profile", "ann", "agent", "edit", "typist", "--marker", "[ann]"],
    { home },
  );
  assert.equal(asAnn.code, 77, asAnn.stderr);
  assert.match(asAnn.stderr, /Only an admin may change tmux agents/);
  assert.equal(await Deno.readTextFile(file), stored, "the registration is as it was");
});

/** A pane split off `session`'s, running a program tmux names `argv0`; its pane id. */
async function splitPane(tmux: TmuxServer, session: string, argv0: string): Promise<string> {
  const pane = await tmux.run(
    ...["split-window", "-t", `=${session}:`, "-P", "-F", "#{pane_id}"],
    ...["--", "bash", "-c", `exec -a ${argv0} sleep 600`],
  );
  await tmux.running(pane, argv0);
  return pane;
}

Deno.test("agent add NAME inside tmux without --tmux registers this pane: its session when it has this one pane, else its pane id; with --model and --role, which peers see and agent edit changes", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const solo = await tmux.program("solo", "solo", home);
  await tmux.program("duo", "duo", home);
  const second = await splitPane(tmux, "duo", "second");
  await using _engine = await engineIn(home);
  const add = (name: string, pane: string, ...flags: string[]) =>
    runCrosstalk(["agent", "add", name, ...flags, "--containername", "team", "--json"], {
      home,
      env: inPane(tmux, pane),
    });

  const one = await add("solo-agent", solo, "--model", "opus", "--role", "reviewer");
  assert.equal(one.code, 0, one.stderr);
  const registered = JSON.parse(one.stdout);
  assert.equal(registered.target, "solo", "a session of one pane: by its name");
  assert.equal(registered.socket, tmux.socket);
  assert.equal(registered.pane, solo);
  assert.equal(registered.up, true);
  assert.equal(registered.model, "opus");
  assert.equal(registered.role, "reviewer");
  const two = await add("duo-agent", second);
  assert.equal(two.code, 0, two.stderr);
  assert.equal(JSON.parse(two.stdout).target, second, "a session of more panes: the pane id");

  const peer = async (name: string) => {
    const { agents } = await api(home, "GET", "/api/peers") as {
      agents: { name: string; model?: string; role?: string }[];
    };
    return agents.find((a) => a.name === name);
  };
  assert.equal((await peer("solo-agent"))?.model, "opus");
  await ok(home, "agent", "edit", "solo-agent", "--model", "sonnet", "--role", "lead");
  const edited = await peer("solo-agent");
  assert.equal(edited?.model, "sonnet");
  assert.equal(edited?.role, "lead");
  const badModel = await cli(home, "agent", "edit", "solo-agent", "--model", "a;b");
  assert.equal(badModel.code, 65, badModel.stderr);
  assert.match(badModel.stderr, /Invalid model: 1 to 100 letters/);
  assert.equal((await peer("solo-agent"))?.model, "sonnet", "a refused edit changes nothing");

  // Outside tmux, or with another server's socket, there is no pane to take: a usage error.
  const before = await panes(home);
  const outside = await cli(home, "agent", "add", "nowhere");
  assert.equal(outside.code, 64, outside.stderr);
  assert.match(
    outside.stderr,
    /Give the pane to register with --tmux TARGET \(a session name like aider, or a pane id like %3\), or run "crosstalk agent add nowhere" inside that tmux pane/,
  );
  const elsewhere = await runCrosstalk(
    ["agent", "add", "elsewhere", "--socket", join(home, "other.sock"), "--containername", "team"],
    { home, env: inPane(tmux, solo) },
  );
  assert.equal(elsewhere.code, 64, elsewhere.stderr);
  assert.match(elsewhere.stderr, /Give --tmux TARGET with --socket/);
  assert.deepEqual(await panes(home), before);
});

Deno.test("message send in a registered tmux pane is from its tmux agent without --from; --from, then $CROSSTALK_FROM, come first; an unregistered pane, or the same pane id on another tmux server, sends as the user; whoami says who and why", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  await Deno.mkdir(join(home, "other"));
  await using other = new TmuxServer(join(home, "other"));
  const coder = await tmux.program("coder", "aider", home);
  const first = await tmux.program("work", "worker", home);
  const builder = await splitPane(tmux, "work", "builder");
  const stranger = await other.program("stranger", "stranger", home);
  assert.equal(stranger, coder, "the first pane of each server has the same id");
  await using _engine = await engineIn(home);
  await ok(home, "agent", "add", "coder", "--tmux", "coder", "--socket", tmux.socket);
  await ok(home, "agent", "add", "builder", "--tmux", builder, "--socket", tmux.socket);

  const fromOf = async (env: Record<string, string>, ...flags: string[]) => {
    const sent = await runCrosstalk(
      ["message", "send", "--containername", "team", "--to", "boss", ...flags, "hello"],
      { home, env },
    );
    assert.equal(sent.code, 0, sent.stderr);
    const shown = await cli(home, "message", "show", sent.stdout.trim(), "--json");
    return JSON.parse(shown.stdout).from as string;
  };
  assert.equal(await fromOf(inPane(tmux, coder)), "coder", "a session target");
  assert.equal(await fromOf(inPane(tmux, builder)), "builder", "a pane id target");
  assert.equal(await fromOf(inPane(tmux, first)), "boss", "a pane nobody registered");
  assert.equal(await fromOf(inPane(other, stranger)), "boss", "that pane id on another server");
  assert.equal(await fromOf({ ...inPane(tmux, coder), CROSSTALK_FROM: "carol" }), "carol");
  assert.equal(
    await fromOf({ ...inPane(tmux, coder), CROSSTALK_FROM: "carol" }, "--from", "dave"),
    "dave",
  );
  assert.equal(
    await fromOf({ CROSSTALK_FROM: "carol" }),
    "carol",
    "through the engine, outside tmux",
  );

  const whoami = async (env: Record<string, string>, ...flags: string[]) => {
    const r = await runCrosstalk(["whoami", "--containername", "team", ...flags], { home, env });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split("\n")[1];
  };
  assert.equal(
    await whoami(inPane(tmux, coder)),
    `sends as coder: the tmux agent registered for this pane (${coder})`,
  );
  assert.equal(
    await whoami({ ...inPane(tmux, coder), CROSSTALK_FROM: "carol" }),
    "sends as carol: $CROSSTALK_FROM",
  );
  assert.equal(
    await whoami(inPane(tmux, first)),
    "sends as boss: the credential the local engine leaves for this machine's CLI",
  );
  const json = await runCrosstalk(
    ["whoami", "--containername", "team", "--json", "--from", "dave"],
    { home, env: inPane(tmux, coder) },
  );
  assert.deepEqual(JSON.parse(json.stdout).sender, {
    name: "dave",
    source: "flag",
    why: "--from",
    allowed: true,
  });

  // A name that is no address: said to come from $CROSSTALK_FROM, and nothing is written.
  const count = async () =>
    JSON.parse((await cli(home, "message", "list", "--json")).stdout).length;
  const written = await count();
  const bad = await runCrosstalk(
    ["message", "send", "--containername", "team", "--to", "boss", "hi"],
    { home, env: { CROSSTALK_FROM: "no such/name/x" } },
  );
  assert.equal(bad.code, 65, bad.stderr);
  assert.match(
    bad.stderr,
    /^error: Cannot send as "no such\/name\/x" \(\$CROSSTALK_FROM\): Invalid address/,
  );
  assert.equal(await count(), written);
});

Deno.test("message send in a registered tmux pane with a credential that may not send as its agent (not an admin's) is refused, saying why, and writes nothing; whoami says so", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using tmux = new TmuxServer(home);
  const coder = await tmux.program("coder", "aider", home);
  await using _engine = await engineIn(home);
  await ok(home, "agent", "add", "coder", "--tmux", "coder", "--socket", tmux.socket);
  await loginAnn(home);
  const count = async () =>
    JSON.parse((await cli(home, "message", "list", "--json")).stdout).length;
  const written = await count();
  const asAnn = (env: Record<string, string>, ...args: string[]) =>
    runCrosstalk(["--profile", "ann", ...args], { home, env });

  const refused = await asAnn(inPane(tmux, coder), "message", "send", "--to", "boss", "hi");
  assert.equal(refused.code, 77, refused.stderr);
  assert.equal(
    refused.stderr,
    `error: Cannot send as "coder" (the tmux agent registered for this pane (${coder})): this ` +
      `credential sends as "ann" only, and only an admin's token may send as someone else. Send ` +
      `as "ann" with --from ann\n`,
  );
  const env = await asAnn({ CROSSTALK_FROM: "zed" }, "message", "send", "--to", "boss", "hi");
  assert.equal(env.code, 77, env.stderr);
  assert.match(
    env.stderr,
    /Cannot send as "zed" \(\$CROSSTALK_FROM\): .*, or unset CROSSTALK_FROM\n$/,
  );
  assert.equal(await count(), written, "nothing written");

  const me = await asAnn(inPane(tmux, coder), "whoami");
  assert.equal(me.code, 0, me.stderr);
  assert.match(
    me.stdout,
    /\nsends as coder: the tmux agent registered for this pane \(%\d+\) \(refused: this token sends as ann only; only an admin's token may send as someone else\)\n$/,
  );
  const own = await asAnn(
    inPane(tmux, coder),
    "message",
    "send",
    "--to",
    "boss",
    "--from",
    "ann",
    "hi",
  );
  assert.equal(own.code, 0, own.stderr);
  assert.equal(await count(), written + 1);
});
