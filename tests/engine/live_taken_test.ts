// LiveAgents and the feed's redeliveries: a message read (or typed) before the feed recorded it
// as handled comes again after a crash, and must not go back into the inbox.
import assert from "node:assert/strict";
import { join } from "node:path";
import { LiveAgents } from "../../engine/live.ts";
import { Logger } from "../../engine/log.ts";
import { AnnotationStore, type MessageRef } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";
import { makeTransport, openBus } from "./_harness.ts";

Deno.test("a message read before the feed recorded it is not put back in the inbox when the feed hands it over again, after a restart too, and is let go of once recorded", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  const stateDir = join(dir.path, "state");
  await Deno.mkdir(stateDir);
  await makeTransport(root, "providers: {}\n");
  await using bus = await openBus(root);
  const log = await Logger.open(stateDir, []);
  const recorded = new Set<string>();
  const open = () =>
    LiveAgents.open({
      bus,
      alias: "a",
      stateDir,
      log,
      annotations: new AnnotationStore(root),
      knownSender: () => true,
      handled: (ref: MessageRef) => recorded.has(`${ref.channel}/${ref.id}`),
    });
  let live = await open();
  try {
    await live.register({ name: "carol", agent: "claude", wake: "pull" }, "boss", () => false);
    const message = await bus.send({ to: ["carol"], body: "once" });
    await live.onMessages([message]);
    assert.deepEqual((await live.read("carol")).messages.map((m) => m.id), [message.id]);

    // The engine dies before the feed records the message: a restart hands it over again.
    await live.onMessages([message]);
    assert.deepEqual((await live.read("carol")).messages, [], "not back in the inbox");
    await live.close();
    live = await open();
    await live.onMessages([message]);
    assert.deepEqual((await live.read("carol")).messages, [], "nor after a restart");

    // Once the feed has recorded it, it is forgotten here; a message not read still comes.
    recorded.add(`${message.channel}/${message.id}`);
    const next = await bus.send({ to: ["carol"], body: "next" });
    await live.onMessages([next]);
    await live.close();
    const saved = await Deno.readTextFile(join(stateDir, "live.journal"));
    const last = JSON.parse(saved.trim().split("\n").at(-1)!);
    assert.equal(last.agents[0].taken, undefined, "nothing taken is kept once recorded");
    live = await open();
    assert.deepEqual((await live.read("carol")).messages.map((m) => m.id), [next.id]);
  } finally {
    await live.close();
    log.close();
  }
});
