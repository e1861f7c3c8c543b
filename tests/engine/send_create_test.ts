// Sending into a channel that does not exist yet, with createChannel: the channel is made on the
// way, once, and a message that is refused leaves no channel behind.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import { scaffoldTransport } from "../../transports/mod.ts";
import { runCrosstalk, tempDir } from "../_helpers.ts";

async function openBus(root: string): Promise<Bus> {
  await scaffoldTransport(root, { kind: "local" });
  await Deno.writeTextFile(
    join(root, "data", "crosstalk.yaml"),
    "transport: local\nlimits:\n  message_bytes: 1000\n",
  );
  const location = locateTransport({ path: root, state: `${root}-state` }, { HOME: root });
  return await Bus.open(location, { env: { USER: "ann" } });
}

Deno.test("send with createChannel makes the channel once (even for senders racing), never without it, and not for a refused message", async () => {
  await using dir = await tempDir();
  await using bus = await openBus(join(dir.path, "bus"));
  await assert.rejects(
    bus.send({ to: ["bob"], body: "hi", channel: "design" }),
    /No channel named "design"/,
  );
  const [one, two] = await Promise.all([
    bus.send({ to: ["bob"], body: "one", channel: "design", createChannel: true }),
    bus.send({ to: ["bob"], body: "two", channel: "design", createChannel: true }),
  ]);
  assert.equal(one.channel, two.channel, "one channel for both");
  const named = (await bus.listChannels()).filter((c) => c.name === "design");
  assert.equal(named.length, 1);
  assert.deepEqual((await bus.listMessages("design")).messages.map((m) => m.body).sort(), [
    "one",
    "two",
  ]);
  // An existing channel is simply used.
  const again = await bus.send({
    to: ["bob"],
    body: "three",
    channel: "design",
    createChannel: true,
  });
  assert.equal(again.channel, one.channel);

  // Refused messages make nothing: too large, a bad name, an unknown actor, a reply (there is
  // nothing to reply to in a channel that does not exist).
  const before = (await bus.listChannels()).length;
  await assert.rejects(
    bus.send({ to: ["bob"], body: "x".repeat(2000), channel: "big", createChannel: true }),
    /limit is 1000/,
  );
  await assert.rejects(
    bus.send({ to: ["bob"], body: "hi", channel: "../up", createChannel: true }),
    /channel/i,
  );
  await assert.rejects(
    bus.send({ to: ["bob"], body: "hi", channel: "acted", as: "nobody", createChannel: true }),
    /No actor "nobody"/,
  );
  await assert.rejects(
    bus.send({ to: ["bob"], body: "hi", channel: "reply", re: [one.id], createChannel: true }),
    /No channel named "reply"/,
  );
  assert.equal((await bus.listChannels()).length, before, "no channel was made");
});

Deno.test("message send --create starts a topic channel from the command line", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await (await openBus(root))[Symbol.asyncDispose]();
  const sent = await runCrosstalk(
    ["message", "send", "--path", root, "--channel", "release-2", "--create", "--to", "bob", "go"],
    { home: dir.path },
  );
  assert.equal(sent.code, 0, sent.stderr);
  const listed = await runCrosstalk(
    ["message", "list", "--path", root, "--channel", "release-2", "--json"],
    { home: dir.path },
  );
  assert.deepEqual(JSON.parse(listed.stdout).map((m: { body: string }) => m.body), ["go"]);
});
