// The wake adapters end to end: a real engine, a real `crosstalk mcp` session, and a real tmux
// pane or a webhook receiver on loopback. A wake that cannot be delivered is reported to the
// sender, and the message still waits in the agent's inbox.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { sentAtOf, submissions, TmuxServer } from "../_tmux.ts";
import { AGENTS, EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";
import { verifyWebhookSignature } from "../../transports/webhook.ts";

async function team(home: string): Promise<EngineProcess> {
  const { root } = namedTransport(home);
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  const engine = await EngineProcess.start(root, {
    alias: "a",
    state: namedTransport(home).state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  return engine;
}

async function send(home: string, to: string, body: string): Promise<string> {
  const r = await runCrosstalk(["message", "send", "--containername", "team", "--to", to, body], {
    home,
  });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split("\n")[0]!;
}

/** The delivery row of `to` for message `id`, once `state` shows. */
function delivery(home: string, id: string, to: string, state: string) {
  return waitUntil(async () => {
    const r = await runCrosstalk(["message", "status", id, "--containername", "team", "--json"], {
      home,
    });
    const row = JSON.parse(r.stdout).deliveries.find((d: { to: string; state: string }) =>
      d.to === to && d.state === state
    );
    return row as { to: string; state: string; detail?: string } | undefined;
  });
}

Deno.test("a live agent in a tmux pane gets a multi-line message typed as one submission; a missing pane is reported", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await team(home);
  await using server = new TmuxServer(home);
  const typed = join(home, "typed.jsonl");
  const pane = await server.reader("agent", typed);
  // The session runs "inside" the pane: tmux finds its server through $TMUX.
  await using agent = await McpSession.start(home, [
    "--containername",
    "team",
    "--name",
    "typist",
    "--agent",
    "aider",
    "--wake",
    "tmux",
    "--enter-delay",
    "50",
  ], { env: { TMUX: `${server.socket},0,0`, TMUX_PANE: pane } });
  await waitUntil(async () =>
    /typist \(you\): aider on a, available/.test(await agent.call("peers"))
  );

  const id = await send(home, "typist", "line one\nline two");
  const typedIn = await waitUntil(async () => {
    const all = await submissions(typed);
    return all.length > 0 ? all : undefined;
  });
  assert.equal(typedIn.length, 1, "one submission");
  assert.equal(
    typedIn[0],
    `[crosstalk] boss -> typist in #general ${sentAtOf(id)}: line one\nline two`,
  );
  await delivery(home, id, "typist", "woken");

  // The pane goes away: the wake is reported, and the message waits in the inbox.
  await server.run("kill-server");
  const lost = await send(home, "typist", "anyone there?");
  const row = await delivery(home, lost, "typist", "unwoken");
  assert.match(row.detail ?? "", /tmux pane %\d+ missing/);
  assert.match(await agent.call("read"), /line one\nline two[\s\S]*anyone there\?/);
});

Deno.test("a live agent woken by webhook: the receiver verifies the signed POST", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await team(home);
  const secret = "a shared secret of some length";
  const received: { event: string | null; ok: boolean; body: Record<string, unknown> }[] = [];
  const arrived = Promise.withResolvers<void>();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const raw = await req.text();
      received.push({
        event: req.headers.get("X-Crosstalk-Event"),
        ok: await verifyWebhookSignature(secret, req.headers.get("X-Crosstalk-Signature"), raw),
        body: JSON.parse(raw),
      });
      arrived.resolve();
      return new Response("ok");
    },
  );
  await using _agent = await McpSession.start(home, [
    "--containername",
    "team",
    "--name",
    "hooked",
    "--wake",
    "webhook",
    "--webhook",
    `http://127.0.0.1:${server.addr.port}/hook`,
  ], { env: { CROSSTALK_WEBHOOK_SECRET: secret } });
  await waitUntil(async () =>
    /hooked \(you\): \w+ on a, available/.test(await _agent.call("peers"))
  );

  const id = await send(home, "hooked", "build is red");
  await arrived.promise;
  assert.equal(received.length, 1);
  assert.equal(received[0]!.event, "wake");
  assert.ok(received[0]!.ok, "the signature verifies with the shared secret");
  assert.equal(
    received[0]!.body.ref,
    `${received[0]!.body.channel}/${id.split("/").slice(-4).join("/")}`,
  );
  assert.equal(received[0]!.body.preview, "build is red");
  await delivery(home, id, "hooked", "woken");
});

Deno.test("a live agent started with --marker and --max-chars is woken in its pane after that marker, cut at that cap with the pointer to the read tool", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await team(home);
  await using server = new TmuxServer(home);
  const typed = join(home, "typed.jsonl");
  const pane = await server.reader("agent", typed);
  await using agent = await McpSession.start(home, [
    ...["--containername", "team", "--name", "capped", "--agent", "aider", "--wake", "tmux"],
    ...["--enter-delay", "50", "--marker", "<bus>", "--max-chars", "250"],
  ], { env: { TMUX: `${server.socket},0,0`, TMUX_PANE: pane } });
  await waitUntil(async () =>
    /capped \(you\): aider on a, available/.test(await agent.call("peers"))
  );

  const id = await send(home, "capped", "word ".repeat(200).trim());
  const [text] = await waitUntil(async () => {
    const all = await submissions(typed);
    return all.length > 0 ? all : undefined;
  });
  const length = Array.from(text!).length;
  assert.ok(length <= 250 && length > 240, `${length} characters typed: ${text}`);
  assert.match(
    text!,
    /^<bus> boss -> capped in #general at \d\d:\d\d UTC: word word [word ]+…\nfull message: read it with the crosstalk read tool \(id [0-9a-f-]{36}\/\d{4}\/\d\d\/\d\d\/\d{9}Z-[0-9a-f]{8}\.md\)$/,
  );
  await delivery(home, id, "capped", "woken");
});

Deno.test("crosstalk mcp refuses a bad --marker or --max-chars before it registers", async () => {
  await using dir = await tempDir();
  const bad: [string[], RegExp][] = [
    [["--marker", "a\tb"], /^error: Invalid --marker "a\\tb": at most 40 printable characters/],
    [["--marker", "x".repeat(41)], /Invalid --marker/],
    [
      ["--max-chars", "199"],
      /^error: Invalid --max-chars 199: a whole number of characters from 200 to 100000\n$/,
    ],
    [["--max-chars", "2k"], /^error: Invalid --max-chars "2k": a whole number\n$/],
  ];
  for (const [args, error] of bad) {
    // With no engine, and none to be started: only a check before registering answers this way.
    const r = await runCrosstalk(
      ["mcp", "--containername", "team", "--no-start", "--wake", "tmux", ...args],
      { home: dir.path, env: { TMUX_PANE: "%0" } },
    );
    assert.equal(r.code, 64, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, error, args.join(" "));
  }
});
