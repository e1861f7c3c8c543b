// An agent CLI the engine runs uses the crosstalk command line during its run: the CLI takes the
// engine's address and the run's own token from the environment, so the agent speaks as itself.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { AGENTS, EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { TmuxServer } from "../_tmux.ts";

Deno.test("an agent that runs crosstalk commands during its run finds crosstalk on its PATH, sends as its model, through the engine, and whoami says so", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      cli: ${join(AGENTS, "clicall.sh")}\n`,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: {
      CROSSTALK_INIT_USERNAME: "tester",
      CROSSTALK_INIT_PASSPHRASE: "a long enough passphrase",
      // Without crosstalk on it: the engine puts itself first on its agents' PATH.
      PATH: "/usr/bin:/bin",
      HOME: home,
    },
  });
  const url = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });

  const sent = await cli("message", "send", "--to", "cli", "--wait", "--timeout", "60", "go");
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, new RegExp(`test/cli \\(agent\\) at ${url}`), "whoami in the agent");
  const listed = await cli("message", "list", "--json");
  const messages = JSON.parse(listed.stdout) as { from: string; body: string }[];
  const byCli = messages.find((m) => m.body === "sent with the CLI");
  assert.equal(byCli?.from, "test/cli", "the agent's own identity, not the machine's admin");

  // Outside a run the same command speaks as the local user.
  const me = await cli("whoami");
  assert.equal(me.code, 0, me.stderr);
  assert.equal(
    me.stdout,
    `tester (admin) at ${url}\n` +
      "sends as tester: the credential the local engine leaves for this machine's CLI\n",
  );
});

Deno.test("an agent run speaks as its model whatever the engine's environment says of a sender: $CROSSTALK_FROM and a registered tmux pane it inherits do not apply", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      cli: ${join(AGENTS, "clicall.sh")}\n`,
  );
  await using tmux = new TmuxServer(home);
  const pane = await tmux.program("coder", "aider", home);
  // The engine was started in that pane, by someone who set CROSSTALK_FROM: its runs inherit both.
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: {
      CROSSTALK_INIT_USERNAME: "tester",
      CROSSTALK_INIT_PASSPHRASE: "a long enough passphrase",
      HOME: home,
      CROSSTALK_FROM: "tester",
      TMUX: `${tmux.socket},1,0`,
      TMUX_PANE: pane,
    },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });
  const added = await cli("agent", "add", "coder", "--tmux", "coder", "--socket", tmux.socket);
  assert.equal(added.code, 0, added.stderr);
  // Outside the run, that pane is coder's.
  const there = await runCrosstalk(["whoami", "--containername", "team"], {
    home,
    env: { TMUX: `${tmux.socket},1,0`, TMUX_PANE: pane },
  });
  assert.match(there.stdout, /\nsends as coder: the tmux agent registered for this pane/);

  const sent = await cli("message", "send", "--to", "cli", "--wait", "--timeout", "60", "go");
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(
    sent.stdout,
    /\nsends as test\/cli: the token of this agent run \(\$CROSSTALK_TOKEN\), whatever/,
    "whoami in the agent",
  );
  const messages = JSON.parse((await cli("message", "list", "--json")).stdout) as {
    from: string;
    body: string;
  }[];
  assert.equal(messages.find((m) => m.body === "sent with the CLI")?.from, "test/cli");
});

Deno.test("whoami without an engine says there is none to ask", async () => {
  await using dir = await tempDir();
  const { root } = namedTransport(dir.path);
  await makeTransport(root, "");
  const me = await runCrosstalk(["whoami", "--containername", "team"], { home: dir.path });
  assert.equal(me.code, 77);
  assert.match(me.stderr, /No engine to talk to/);
});
