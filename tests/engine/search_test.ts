// searchMessages on a real local transport.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import { searchMessages } from "../../engine/search.ts";
import { scaffoldTransport } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

async function busWith(root: string): Promise<Bus> {
  await scaffoldTransport(join(root, "bus"), { kind: "local" });
  const location = locateTransport({ path: join(root, "bus"), state: join(root, "state") }, {
    HOME: root,
  });
  return await Bus.open(location, { env: { USER: "ann" } });
}

Deno.test("searchMessages finds every word in body, sender or addressees, newest first, in one channel or all", async () => {
  await using dir = await tempDir();
  const bus = await busWith(dir.path);
  try {
    await bus.createChannel("ops");
    const first = await bus.send({ to: ["bob"], body: "The Parser rewrite starts Monday" });
    const second = await bus.send({ channel: "ops", to: ["carol"], body: "parser tests are red" });
    await bus.send({ to: ["bob"], body: "lunch?" });
    const third = await bus.send({ from: "parser-bot", to: ["ann"], body: "nightly run done" });

    const ids = async (q: string, options = {}) =>
      (await searchMessages(bus, q, options)).messages.map((m) => m.id);
    assert.deepEqual(
      await ids("PARSER"),
      [third.id, second.id, first.id],
      "any case, by sender too",
    );
    assert.deepEqual(await ids("parser red"), [second.id], "every word");
    assert.deepEqual(await ids("carol"), [second.id], "addressees count");
    assert.deepEqual(await ids("parser", { channel: "ops" }), [second.id]);
    assert.deepEqual(await ids("parser", { limit: 2 }), [third.id, second.id]);
    assert.deepEqual(await ids("nothing-like-this"), []);

    const all = await searchMessages(bus, "parser");
    assert.equal(all.complete, true);
    assert.equal(all.scanned, 4);
    const cut = await searchMessages(bus, "parser", { budget: 1 });
    assert.equal(cut.complete, false);
    assert.equal(cut.scanned, 1);

    // More than a page (200) of other messages after the first match: still found.
    for (let i = 0; i < 210; i++) await bus.send({ channel: "ops", to: ["bob"], body: `n${i}` });
    assert.deepEqual(await ids("parser", { channel: "ops" }), [second.id]);
    const deep = await searchMessages(bus, "Monday");
    assert.deepEqual(deep.messages.map((m) => m.id), [first.id]);
    assert.equal(deep.scanned, 214);

    await assert.rejects(searchMessages(bus, "   "), /at least one word/);
    await assert.rejects(searchMessages(bus, "x", { channel: "nope" }), /nope/);
  } finally {
    await bus[Symbol.asyncDispose]();
  }
});
