// The golden transport (Crosstalk 8 compatible) read through the real CLI, and `serve` on it.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import { copyDir, expectCode, MESSAGE_ID_RE, RunningCli, snapshot } from "./_cli.ts";

const GOLDEN = fileURLToPath(new URL("../testdata/golden_transport", import.meta.url));
const EXPECTED = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/golden_transport.json", import.meta.url)),
) as {
  channels: { id: string; name: string; parent: string | null }[];
  messages: Record<string, unknown>[];
};

interface CliMessage {
  channel: string;
  id: string;
  from: string;
  to: string[];
  timestamp: string;
  re?: string[];
  as?: string;
  type?: string;
  failed?: boolean;
  body: string;
}

/** A message as `--json` prints it, in the shape of golden_transport.json. */
function normalize(m: CliMessage): Record<string, unknown> {
  return {
    channel: m.channel,
    id: m.id,
    from: m.from,
    to: m.to,
    timestamp: m.timestamp,
    re: m.re ?? [],
    as: m.as ?? null,
    type: m.type ?? null,
    failed: m.failed ?? false,
    body: m.body,
  };
}

Deno.test("the golden transport reads back exactly as golden_transport.json says, and checks clean", async (t) => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "golden");
  await copyDir(GOLDEN, root);
  const p = ["--path", root];
  const before = await snapshot(root);

  await t.step("channel list --json", async () => {
    const list = await expectCode(0, ["channel", "list", ...p, "--json"], { home });
    const channels = (JSON.parse(list.stdout) as { id: string; name: string; parent?: string }[])
      .map((c) => ({ id: c.id, name: c.name, parent: c.parent ?? null }));
    const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
    assert.deepEqual(channels.sort(byId), [...EXPECTED.channels].sort(byId));
  });

  await t.step("message list --channel <name> --json, for each channel", async () => {
    for (const channel of EXPECTED.channels) {
      const list = await expectCode(0, [
        "message",
        "list",
        "--channel",
        channel.name,
        ...p,
        "--json",
      ], { home });
      assert.equal(list.stderr, "", `no skipped files in ${channel.name}`);
      assert.deepEqual(
        (JSON.parse(list.stdout) as CliMessage[]).map(normalize),
        EXPECTED.messages.filter((m) => m.channel === channel.id),
        channel.name,
      );
    }
  });

  await t.step("message list --since crosses day folders; --limit counts after it", async () => {
    const ids = async (...args: string[]) =>
      (JSON.parse(
        (await expectCode(0, ["message", "list", ...p, "--json", ...args], { home })).stdout,
      ) as CliMessage[]).map((m) => m.id);
    const general = EXPECTED.messages.filter((m) => m.channel === EXPECTED.channels[0]!.id)
      .map((m) => String(m.id));
    assert.deepEqual(await ids("--since", general[1]!), general.slice(2));
    assert.deepEqual(await ids("--since", "2026/11/20/235959999Z-ffffffff.md"), general.slice(2));
    assert.deepEqual(await ids("--since", "2025/12/31/235959999Z-ffffffff.md"), general);
    assert.deepEqual(await ids("--since", general[0]!, "--limit", "2"), general.slice(1, 3));
  });

  await t.step("message show finds each message by id alone, across channels", async () => {
    for (const expected of EXPECTED.messages) {
      const shown = await expectCode(0, ["message", "show", String(expected.id), ...p, "--json"], {
        home,
      });
      assert.deepEqual(normalize(JSON.parse(shown.stdout)), expected);
    }
  });

  await t.step("message replies follows re", async () => {
    for (const expected of EXPECTED.messages) {
      const replies = await expectCode(0, [
        "message",
        "replies",
        String(expected.id),
        ...p,
        "--json",
      ], { home });
      assert.deepEqual(
        (JSON.parse(replies.stdout) as CliMessage[]).map(normalize),
        EXPECTED.messages.filter((m) => (m.re as string[]).includes(String(expected.id))),
      );
    }
  });

  await t.step("transport check and config validate are clean", async () => {
    const check = await expectCode(0, ["transport", "check", ...p], { home });
    assert.equal(check.stdout, "2 channels, 5 messages, 0 errors, 0 warnings\n");
    const validate = await expectCode(0, ["config", "validate", ...p], { home });
    assert.match(validate.stdout, /^ok: .*transport: local, 2 providers, 2 models, 0 errors/);
  });

  assert.deepEqual(await snapshot(root), before, "reading changed nothing in the transport");
});

/** One structured log record of the engine (stderr is not a terminal, so it is JSON lines). */
type LogRecord = { event: string; [key: string]: unknown };

function recordOf(line: string): LogRecord | undefined {
  try {
    const value = JSON.parse(line);
    return typeof value === "object" && value !== null && typeof value.event === "string"
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

function records(stderr: string): LogRecord[] {
  return stderr.split("\n").map(recordOf).filter((r): r is LogRecord => r !== undefined);
}

/** A line that is the record of `event` and passes `check`. */
function isEvent(event: string, check: (r: LogRecord) => boolean = () => true) {
  return (line: string) => {
    const record = recordOf(line);
    return record?.event === event && check(record);
  };
}

/** A `message.new` record about message `id` (its trace is `<channel prefix>/<id>`). */
function isNewMessage(id: string) {
  return isEvent("message.new", (r) => String(r.trace).endsWith(`/${id}`));
}

Deno.test("serve reports ready, then each new message, and exits 0 on SIGTERM", async (t) => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "golden");
  await copyDir(GOLDEN, root);

  await t.step(
    "first start: ready without replaying old history, then a message sent meanwhile",
    async () => {
      await using serve = new RunningCli(["serve", "--path", root], home);
      const ready = recordOf(await serve.waitForLine(isEvent("engine.ready")))!;
      assert.equal(ready.root, root);
      assert.equal(ready.alias, "golden");
      const before = records(serve.stderr);
      // The golden history is days old: a first start records it as seen without reading it.
      for (const m of EXPECTED.messages) {
        assert.ok(
          !before.some((r) => isNewMessage(String(m.id))(JSON.stringify(r))),
          `${m.id} is left alone at a first start`,
        );
      }

      const sent = await expectCode(0, [
        "message",
        "send",
        "--path",
        root,
        "--to",
        "steve",
        "ping from a second process",
      ], { home });
      const id = sent.stdout.trim();
      assert.match(id, MESSAGE_ID_RE);
      const line = recordOf(await serve.waitForLine(isNewMessage(id)))!;
      assert.equal(line.from, "tester");
      assert.deepEqual(line.to, ["steve"]);

      // A second engine on the same state dir refuses to start, and leaves the first one alone.
      const second = await expectCode(73, ["serve", "--path", root], { home });
      assert.match(second.stderr, /Another engine \(pid \d+\) is running/);

      const status = await serve.stop("SIGTERM");
      assert.equal(status.code, 0, serve.stderr);
      assert.equal(status.success, true);
      assert.equal(records(serve.stderr).at(-1)?.event, "engine.stopped");
      assert.ok(!records(serve.stderr).some((r) => r.level === "error"), serve.stderr);
    },
  );

  await t.step("a restart does not report old messages, and the echo agent answers", async () => {
    await using serve = new RunningCli(["serve", "--path", root], home);
    const ready = recordOf(await serve.waitForLine(isEvent("engine.ready")))!;
    assert.ok((ready.models as string[]).includes("builtin/echo"), serve.stderr);
    assert.ok(!records(serve.stderr).some((r) => r.event === "message.new"), serve.stderr);

    const id = (await expectCode(0, [
      "message",
      "send",
      "--path",
      root,
      "--channel",
      "design",
      "--to",
      "echo",
      "after the restart",
    ], { home })).stdout.trim();
    await serve.waitForLine(isNewMessage(id));
    const replies = await expectCode(0, [
      "message",
      "replies",
      id,
      "--wait",
      "--timeout",
      "15",
      "--path",
      root,
      "--json",
    ], { home });
    const [reply, ...more] = JSON.parse(replies.stdout) as CliMessage[];
    assert.equal(more.length, 0);
    assert.equal(reply!.from, "builtin/echo@golden");
    assert.deepEqual(reply!.to, ["tester"]);
    assert.deepEqual(reply!.re, [id]);
    assert.match(reply!.body, /after the restart/);
    await serve.waitForLine(isNewMessage(reply!.id));
    const status = await serve.stop("SIGINT");
    assert.equal(status.code, 0, serve.stderr);
    // Only the two new messages were reported.
    assert.equal(records(serve.stderr).filter((r) => r.event === "message.new").length, 2);
  });

  // serve keeps its state outside the transport.
  assert.ok(!(Object.keys(await snapshot(root)).some((f) => /cursor|engine\.pid/.test(f))));
});

Deno.test("serve with no transport named creates the default one and watches it", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const container = join(home, ".local/share/crosstalk/crosstalk");
  const root = join(container, "transport");
  await using serve = new RunningCli(["serve"], home);
  const ready = recordOf(await serve.waitForLine(isEvent("engine.ready")))!;
  assert.equal(ready.root, root);
  assert.equal(ready.alias, "crosstalk");
  assert.equal(ready.state, join(container, "crosstalk-state"));
  assert.ok((await Deno.stat(join(root, ".git"))).isDirectory, "a git transport");
  const id = (await expectCode(0, ["message", "send", "--to", "steve", "hi"], { home })).stdout
    .trim();
  await serve.waitForLine(isNewMessage(id));
  const status = await serve.stop("SIGTERM");
  assert.equal(status.code, 0, serve.stderr);
});

// Regression (fixed): serve logs engine.ready from inside Engine.start, but installs its SIGTERM/SIGINT
// listeners only after Engine.start returns; a SIGTERM sent as soon as "ready" shows kills the
// process with the default action (exit 143: no drain, pid file and registry entry left behind).
Deno.test({
  name: "serve exits 0 on a SIGTERM sent as soon as it says ready",
  async fn() {
    await using dir = await tempDir();
    const home = dir.path;
    const root = join(home, "golden");
    await copyDir(GOLDEN, root);
    for (let i = 0; i < 3; i++) {
      await using serve = new RunningCli(["serve", "--path", root], home);
      await serve.waitForLine(isEvent("engine.ready"));
      const status = await serve.stop("SIGTERM");
      assert.equal(status.code, 0, `run ${i}: ${serve.stderr}`);
      assert.equal(records(serve.stderr).at(-1)?.event, "engine.stopped");
    }
  },
});
