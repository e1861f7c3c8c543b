// Tasks and badges recorded on one machine reach the event stream of another once the git sync
// brings their files: a page or `watch` there shows them live, as it shows its own engine's.
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { twoMachines } from "../cli/_live.ts";
import { network } from "./_harness.ts";

async function login(base: string): Promise<string> {
  const response = await fetch(`${base}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "boss", passphrase: "the boss passphrase" }),
  });
  return (await response.json()).token as string;
}

/** The events of an engine's stream, parsed, until `pred` holds for one. */
async function waitForEvent(
  base: string,
  token: string,
  pred: (type: string, data: Record<string, unknown>) => boolean,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}/api/events`, {
    headers: { Authorization: `Bearer ${token}` },
    signal,
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the event stream ended");
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const field = (name: string) =>
          chunk.split("\n").find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim();
        const type = field("event") ?? "";
        const data = field("data");
        if (data && pred(type, JSON.parse(data))) return JSON.parse(data);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

Deno.test("a task flagged and a badge added on machine a show on machine b's event stream once the sync brings them", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { roots } = await network(home, ["a", "b"], "");
  const machines = await twoMachines(home, { a: roots.a!, b: roots.b! });
  await using a = machines.a;
  await using b = machines.b;
  const url = (engine: typeof a) =>
    engine.records.find((r) => r.event === "api.listening")!.url as string;
  const [tokenA, tokenB] = await Promise.all([login(url(a)), login(url(b))]);
  const call = async (path: string, body: unknown) => {
    const response = await fetch(`${url(a)}${path}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${tokenA}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.ok(response.ok, `${path}: ${response.status}`);
    return await response.json();
  };
  const sent = await call("/api/messages", { to: "boss", body: "review the parser" });
  const ref = `${sent.channel}/${sent.id}`;
  const stop = new AbortController();
  // A sync and a nudge take a second or two; an event that never comes fails the test here.
  const timer = setTimeout(() => stop.abort(new Error("no such event within 30 s")), 30_000);
  try {
    const task = waitForEvent(
      url(b),
      tokenB,
      (type, data) => type === "task" && data.message === ref,
      stop.signal,
    );
    const badge = waitForEvent(
      url(b),
      tokenB,
      (type, data) => type === "badge" && data.message === ref,
      stop.signal,
    );
    await call(`/api/messages/${ref}/task`, { role: "reviewer" });
    await call(`/api/messages/${ref}/badges`, { type: "importance", value: "high" });
    const [taskEvent, badgeEvent] = await Promise.all([task, badge]);
    assert.equal(taskEvent.state, "open");
    assert.equal(taskEvent.role, "reviewer");
    assert.equal(taskEvent.flaggedBy, "boss");
    assert.equal(badgeEvent.type, "importance");
    assert.equal(badgeEvent.value, "high");
    assert.equal(badgeEvent.by, "boss");
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
});
