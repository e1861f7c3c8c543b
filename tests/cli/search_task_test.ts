// `crosstalk message search` and `crosstalk task list`, on a transport folder and through an engine.
import assert from "node:assert/strict";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { EngineProcess, makeTransport, namedTransport, openBus } from "../engine/_harness.ts";
import { addBadge, claimTask, flagTask } from "../../engine/tasks.ts";
import { AnnotationStore } from "../../transports/annotations.ts";

Deno.test("message search and task list answer the same directly and through the engine's API", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root } = namedTransport(home);
  await makeTransport(root, "");
  {
    await using bus = await openBus(root);
    const task = await bus.send({ to: ["worker"], body: "Rotate the deploy keys\nbefore Friday" });
    await bus.send({ to: ["worker"], body: "keys are in the vault" });
    await bus.send({ to: ["worker"], body: "unrelated" });
    await flagTask(new AnnotationStore(root), task, { by: "tester", role: "ops" });
  }
  const run = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });
  const check = async (via: string) => {
    const found = await run("message", "search", "KEYS");
    assert.equal(found.code, 0, found.stderr);
    const lines = found.stdout.trim().split("\n");
    assert.equal(lines.length, 2, `${via}: ${found.stdout}`);
    assert.match(lines[0]!, /tester -> worker {2}keys are in the vault$/);
    assert.match(lines[1]!, /tester -> worker {2}Rotate the deploy keys$/);
    const none = await run("message", "search", "zebra");
    assert.equal(none.stdout, "");
    assert.match(none.stderr, /Nothing found/);
    const tasks = await run("task", "list");
    assert.equal(tasks.code, 0, tasks.stderr);
    assert.match(tasks.stdout, /^MESSAGE\s+STATE\s+BY\s+FOR\s+TITLE\n/);
    assert.match(tasks.stdout, /\s+open\s+tester\s+ops\s+Rotate the deploy keys\n$/, via);
    const json = JSON.parse((await run("task", "list", "--json")).stdout);
    assert.equal(json.length, 1);
    assert.equal(json[0].state, "open");
  };
  await check("directly");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: namedTransport(home).state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  await check("through the API");
  const bad = await runCrosstalk([
    "message",
    "search",
    "--containername",
    "team",
    "--limit",
    "0",
    "x",
  ], {
    home,
  });
  assert.equal(bad.code, 64);
});

Deno.test("message status prints a message's task and badges after its deliveries", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root } = namedTransport(home);
  await makeTransport(root, "");
  let id: string;
  {
    await using bus = await openBus(root);
    const message = await bus.send({ to: ["worker"], body: "Rotate the deploy keys" });
    id = message.id;
    const store = new AnnotationStore(root);
    await flagTask(store, message, { by: "tester", role: "ops" });
    await claimTask(store, message, { name: "worker", role: "ops" });
    await addBadge(store, message, { type: "importance", value: "high", by: "tester" });
  }
  const status = await runCrosstalk(["message", "status", id, "--containername", "team"], { home });
  assert.equal(status.code, 0, status.stderr);
  assert.match(
    status.stdout,
    /\n {2}task: claimed, flagged by tester, for role ops, claimed by worker\n {2}badges: importance=high \(tester\)\n$/,
  );
});
