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

Deno.test("EventHub keeps at least its capacity of the newest events, never more than an eighth over", async () => {
  const hub = new EventHub(16);
  for (let n = 1; n <= 100; n++) hub.publish("message", { n });
  const abort = new AbortController();
  const stream = hub.subscribe("otherboot-1", abort.signal);
  const seen: number[] = [];
  const collecting = (async () => {
    for await (const event of stream) {
      seen.push(event.data.n as number);
      if (event.data.n === 101) return;
    }
  })();
  // A live event after the replay marks its end.
  hub.publish("message", { n: 101 });
  await collecting;
  abort.abort();
  const replay = seen.slice(0, -1);
  assert.ok(replay.length >= 16 && replay.length <= 18, `kept ${replay.length}`);
  assert.deepEqual(replay, replay.map((_, i) => 101 - replay.length + i), "the newest, in order");
});

Deno.test("EventHub loses and repeats nothing published while a reconnecting client is replayed, trims included", async () => {
  const hub = new EventHub(16);
  for (let n = 1; n <= 40; n++) hub.publish("message", { n });
  const abort = new AbortController();
  const seen: number[] = [];
  let next = 41;
  for await (const event of hub.subscribe("otherboot-1", abort.signal)) {
    const n = event.data.n as number;
    seen.push(n);
    if (n === 80) break;
    // Each replayed event brings a new one, so that the buffer is trimmed under the replay;
    // once caught up, the rest comes at once.
    if (n <= 40) hub.publish("message", { n: next++ });
    else if (n === next - 1) { while (next <= 80) hub.publish("message", { n: next++ }); }
  }
  abort.abort();
  assert.deepEqual(seen, seen.map((_, i) => seen[0]! + i), "every number once, in order");
  assert.ok(seen[0]! <= 40 - 16 + 1, `the replay began at ${seen[0]}`);
});
