import assert from "node:assert/strict";
import { type BusEvent, EventHub } from "../../engine/events.ts";

async function take(iterator: AsyncGenerator<BusEvent>, n: number): Promise<BusEvent[]> {
  const out: BusEvent[] = [];
  while (out.length < n) {
    const { value, done } = await iterator.next();
    if (done) break;
    out.push(value);
  }
  return out;
}

Deno.test("EventHub turns engine log records into bus events and ignores the rest", async () => {
  const hub = new EventHub();
  const abort = new AbortController();
  const stream = hub.subscribe(undefined, abort.signal);
  const first = take(stream, 2);
  hub.write({ ts: "t", level: "info", event: "models.claimed", models: [] });
  hub.write({ ts: "t", level: "info", event: "message.new", trace: "x/1" });
  hub.write({ ts: "t", level: "info", event: "run.replied", trace: ["x/1"], reply: "r" });
  const events = await first;
  assert.deepEqual(events.map((e) => e.type), ["message", "replied"]);
  assert.equal(events[1]!.data.reply, "r");
  abort.abort();
  await stream.return(undefined);
  assert.equal(hub.subscribers, 0);
});

Deno.test("EventHub replays what a reconnecting client missed after its Last-Event-ID", async () => {
  const hub = new EventHub();
  const a = hub.publish("message", { n: 1 });
  hub.publish("claimed", { n: 2 });
  hub.publish("replied", { n: 3 });
  const abort = new AbortController();
  const stream = hub.subscribe(a.id, abort.signal);
  const replay = await take(stream, 2);
  assert.deepEqual(replay.map((e) => e.data.n), [2, 3]);
  const live = take(stream, 1);
  hub.publish("failed", { n: 4 });
  assert.deepEqual((await live).map((e) => e.data.n), [4]);
  abort.abort();
  await stream.return(undefined);
  const foreign = hub.subscribe("otherboot-2", new AbortController().signal);
  assert.equal(
    (await take(foreign, 4)).length,
    4,
    "an id from another engine process replays everything kept",
  );
  await foreign.return(undefined);
});
