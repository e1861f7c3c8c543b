// A live agent's own shell speaks as the agent: a crosstalk command that an agent CLI runs (Claude
// Code's Bash tool) is from the session that agent CLI runs (`crosstalk mcp`), as long as the
// engine has that session online (cli/_sender.ts, engine/local_sessions.ts).
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cliEnv, type CliResult, MAIN, runCrosstalk, tempDir } from "../_helpers.ts";
import { namedTransport } from "../engine/_harness.ts";
import { addUserProfile, startTeam, teamCredential, teamWithCoder } from "./_live.ts";

const FAKE_CLAUDE = fileURLToPath(new URL("../testdata/approvals/fake_claude.ts", import.meta.url));

/**
 * A fake Claude Code (a real process) that runs `crosstalk mcp` as its MCP server, and crosstalk
 * commands through its Bash tool as the test asks.
 */
class FakeClaude implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;

  /** Starts it, with `crosstalk [global] mcp --containername team [mcp]` as its server. */
  constructor(
    home: string,
    server: { global?: string[]; mcp: string[] },
    env: Record<string, string> = {},
  ) {
    const command = [Deno.execPath(), "run", "-A", "--quiet", MAIN, ...(server.global ?? [])];
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", FAKE_CLAUDE],
      cwd: home,
      clearEnv: true,
      env: cliEnv({
        home,
        env: {
          ...env,
          MCP_SERVER: JSON.stringify([...command, "mcp", "--containername", "team", ...server.mcp]),
        },
      }),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = lines(this.#child.stdout);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Runs `crosstalk ARGS --containername team` through its Bash tool (`sh -c`). */
  async crosstalk(...args: string[]): Promise<CliResult> {
    const words = [
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      MAIN,
      ...args,
      "--containername",
      "team",
    ];
    const line = words.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
    await this.#writer.write(new TextEncoder().encode(`${line}\n`));
    const next = await this.#lines.next();
    if (next.done) throw new Error("The fake Claude Code ended before it answered");
    return JSON.parse(next.value) as CliResult;
  }

  /** Ends its Bash tool's input: it closes its server and exits. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    for (let line = await this.#lines.next(); !line.done; line = await this.#lines.next()) {
      // Nothing more was asked: drain.
    }
    await this.#child.status;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of stream) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
}

/** The messages of the general channel of "team", oldest first, as the admin lists them. */
async function messages(home: string): Promise<{ from: string; body: string }[]> {
  const listed = await runCrosstalk(["message", "list", "--json", "--containername", "team"], {
    home,
  });
  assert.equal(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout);
}

Deno.test("a crosstalk command an agent CLI runs speaks as the live session it runs: message send, task flag and whoami; a process outside it speaks as the user", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  const { server: url } = await teamCredential(home);
  await using claude = new FakeClaude(home, { mcp: ["--name", "ann", "--wake", "pull"] });

  const why = `the live session ann whose agent CLI (claude, pid ${claude.pid}) runs this command`;
  const me = await claude.crosstalk("whoami");
  assert.equal(me.code, 0, me.stderr);
  assert.equal(me.stdout, `boss (admin) at ${url}\nsends as ann: ${why}\n`);
  const json = JSON.parse((await claude.crosstalk("whoami", "--json")).stdout);
  assert.deepEqual(json.sender, { name: "ann", source: "session", why, allowed: true });

  const sent = await claude.crosstalk("message", "send", "hi", "--to", "bob");
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal((await messages(home)).find((m) => m.body === "hi")?.from, "ann");
  const flagged = await claude.crosstalk("task", "flag", sent.stdout.trim(), "--json");
  assert.equal(flagged.code, 0, flagged.stderr);
  assert.equal(JSON.parse(flagged.stdout).flaggedBy, "ann", "a task step acts as the session too");

  // The test process started that agent CLI, as tmux or an editor starts one, and runs other
  // processes too: it is no part of the session, and speaks as the user.
  const outside = await runCrosstalk(["whoami", "--containername", "team"], { home });
  assert.match(outside.stdout, /\nsends as boss: the credential the local engine leaves/);
  const mine = await runCrosstalk(
    ["message", "send", "from outside", "--to", "bob", "--containername", "team"],
    { home },
  );
  assert.equal(mine.code, 0, mine.stderr);
  assert.equal((await messages(home)).find((m) => m.body === "from outside")?.from, "boss");

  // A credential that may not send as the session is refused, saying where the name came from.
  await addUserProfile(home, "carol");
  const refused = await claude.crosstalk(
    "--profile",
    "carol",
    "message",
    "send",
    "no",
    "--to",
    "bob",
  );
  assert.equal(refused.code, 77);
  assert.match(
    refused.stderr,
    new RegExp(
      `Cannot send as "ann" \\(${why.replace(/[()]/g, "\\$&")}\\): this credential sends as ` +
        '"carol" only, and only an admin\'s token may send as someone else. Send as "carol" ' +
        "with --from carol\\n",
    ),
  );
  assert.ok(!(await messages(home)).some((m) => m.body === "no"), "nothing is written");
  const asCarol = await claude.crosstalk(
    "--profile",
    "carol",
    "message",
    "send",
    "mine",
    "--from",
    "carol",
    "--to",
    "bob",
  );
  assert.equal(asCarol.code, 0, asCarol.stderr);
});

Deno.test("a session its engine ended is not who its agent CLI's commands speak as, though its server still runs and its record stays", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  await addUserProfile(home, "carol");
  // carol's session: deleting carol ends it on the engine, and its server keeps running.
  await using claude = new FakeClaude(home, {
    global: ["--profile", "carol"],
    mcp: ["--name", "cara", "--wake", "pull"],
  });
  assert.match(
    (await claude.crosstalk("whoami")).stdout,
    /\nsends as cara: the live session cara /,
  );

  const deleted = await runCrosstalk(["user", "delete", "carol", "--containername", "team"], {
    home,
  });
  assert.equal(deleted.code, 0, deleted.stderr);
  const records = join(namedTransport(home).state, "sessions");
  const kept: string[] = [];
  for await (const entry of Deno.readDir(records)) {
    kept.push(JSON.parse(await Deno.readTextFile(join(records, entry.name))).name);
  }
  assert.deepEqual(kept, ["cara"], "the record of the running server is still there");

  const me = await claude.crosstalk("whoami");
  assert.match(me.stdout, /\nsends as boss: the credential the local engine leaves/);
  const sent = await claude.crosstalk("message", "send", "after it left", "--to", "bob");
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal((await messages(home)).find((m) => m.body === "after it left")?.from, "boss");
});

Deno.test("the live session an agent CLI runs comes before the tmux agent registered for its pane", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using team = await teamWithCoder(home);
  const { tmux, pane } = team;
  const inPane = { TMUX: `${tmux.socket},1,0`, TMUX_PANE: pane };
  // An agent CLI in that pane (its environment says so) that runs its own session.
  await using claude = new FakeClaude(home, { mcp: ["--name", "ann", "--wake", "pull"] }, inPane);
  assert.match((await claude.crosstalk("whoami")).stdout, /\nsends as ann: the live session ann /);
  // A shell of that pane outside the agent CLI: the pane's agent.
  const shell = await runCrosstalk(["whoami", "--containername", "team"], { home, env: inPane });
  assert.match(shell.stdout, /\nsends as coder: the tmux agent registered for this pane/);
});
