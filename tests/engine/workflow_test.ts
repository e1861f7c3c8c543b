// Workflows end to end: real engines as subprocesses, small scripts as the models.
import assert from "node:assert/strict";
import { join } from "node:path";
import { git, tempDir } from "../_helpers.ts";
import { childChannelOf, readWorkflow } from "../../engine/workflow.ts";
import type { Bus } from "../../engine/bus.ts";
import type { Message } from "../../transports/mod.ts";
import {
  AGENTS,
  EngineProcess,
  engineWithBus,
  makeTransport,
  network,
  openBus,
} from "./_harness.ts";

const a = (name: string) => join(AGENTS, name);

const MODELS = `providers:\n  test:\n    env:\n      SLOW_SECONDS: "\${SLOW_SECONDS}"\n` +
  `    models:\n      draft: ${a("reply.sh")}\n      merge: ${a("reply.sh")}\n` +
  `      planner: ${a("planner.sh")}\n      broken: ${a("fail.sh")}\n      slow: ${a("slow.sh")}\n`;

const PLAN = "Name the project.\n\n```yaml\nfanout:\n  - to: draft\n    count: 2\n" +
  "    prompt: Draft a name.\nsynthesize:\n  to: merge\n  prompt: Pick one.\n```\n";

/** The workflow's result in the request's channel, once it is there. */
async function resultOf(bus: Bus, request: Message): Promise<Message> {
  const [result] = await bus.waitForReplies([request], 30_000);
  assert.ok(result, "the workflow sends a result back");
  return result;
}

Deno.test("Workflow with a written plan fans out, synthesizes and answers the requester", async () => {
  await using dir = await tempDir();
  await using one = await engineWithBus(dir.path, MODELS);
  const { engine, bus } = one;
  const request = await bus.send({ to: ["workflow"], body: PLAN, type: "workflow" });
  const result = await resultOf(bus, request);

  const child = await childChannelOf(request);
  assert.equal(result.from, "workflow");
  assert.deepEqual(result.to, ["tester"]);
  assert.deepEqual(result.re, [request.id]);
  assert.equal(result.failed, undefined);
  assert.equal(result.extra?.child_channel, child);
  assert.equal(result.extra?.workflow_phase, "complete");
  // The synthesis (reply.sh echoes what it was given) saw both drafts, each a run of its own.
  assert.match(result.body, /^reply from test\/merge \(1 messages\) to: Pick one\./);
  assert.match(result.body, /The request, from tester:\n\nName the project\./);
  assert.match(
    result.body,
    /## Draft 1 of 2, by test\/draft@a\n\nreply from test\/draft \(1 messages\) to: Draft a name\./,
  );
  assert.match(result.body, /## Draft 2 of 2, by test\/draft@a/);
  assert.doesNotMatch(result.body, /fanout:/, "the plan block is not passed on");

  const view = await readWorkflow(bus, child);
  assert.equal(view.phase, "complete");
  assert.deepEqual(view.request, { channel: request.channel, id: request.id });
  assert.equal(view.host, "a");
  assert.deepEqual(
    view.steps.map((s) => [s.step, s.to, s.reply?.from]),
    [
      ["fanout-1", "draft", "test/draft@a"],
      ["fanout-2", "draft", "test/draft@a"],
      ["synthesize", "merge", "test/merge@a"],
    ],
  );
  assert.deepEqual(view.result, { id: result.id, failed: false });
  const channel = await bus.transport.getChannel(child);
  assert.equal(channel.parent, request.channel);
  assert.match(channel.name, /^general\.workflow-[0-9a-f]{8}$/);
  const planFile = JSON.parse((await bus.transport.readChannelFile(child, "PLAN.json"))!);
  assert.equal(planFile.planner, null);
  assert.equal(planFile.plan.fanout[0].count, 2);
  // The result goes out before COMPLETE is written: the engine says when it is.
  await engine.waitFor((r) => r.event === "workflow.complete");
  assert.match((await bus.transport.readChannelFile(child, "COMPLETE"))!, /^\d{4}-\d{2}-\d{2}T/);
  // A finished workflow read again (from memory) still shows its channel's current name.
  const done = await readWorkflow(bus, child);
  await bus.renameChannel(child, "naming");
  assert.deepEqual(await readWorkflow(bus, child), { ...done, name: "naming" });
  assert.equal((await engine.stop()).code, 0);
});

Deno.test("Workflow in prose is planned by the model it is sent to", async () => {
  await using dir = await tempDir();
  await using one = await engineWithBus(dir.path, MODELS);
  const { bus } = one;
  const request = await bus.send({
    to: ["planner"],
    body: "Have two drafters propose a name and someone pick the better one.",
    type: "workflow",
  });
  const result = await resultOf(bus, request);
  assert.equal(result.failed, undefined, result.body);
  assert.match(result.body, /^reply from test\/merge \(1 messages\) to: Pick the better name\./);
  const view = await readWorkflow(bus, await childChannelOf(request));
  assert.deepEqual(view.steps.map((s) => s.step), [
    "compile",
    "fanout-1",
    "fanout-2",
    "synthesize",
  ]);
  assert.equal(view.steps[0]!.reply?.from, "test/planner@a", "the planner ran, not the request");
  assert.deepEqual(view.plan?.synthesize, { to: "merge", prompt: "Pick the better name." });
});

Deno.test("Workflow fails with a clear result when its plan names an unknown model or every run fails", async () => {
  await using dir = await tempDir();
  await using one = await engineWithBus(dir.path, MODELS);
  const { bus } = one;

  const unknown = await bus.send({
    to: ["workflow"],
    body: "```yaml\nfanout:\n  - to: nobody/here\n    prompt: Hi\n```\n",
    type: "workflow",
  });
  const bad = await resultOf(bus, unknown);
  assert.equal(bad.failed, true);
  assert.match(bad.error!, /fanout\[0\]\.to: Unknown model "nobody\/here"/);
  assert.equal(bad.extra?.workflow_phase, "failed");
  const badView = await readWorkflow(bus, await childChannelOf(unknown));
  assert.equal(badView.phase, "failed");
  assert.deepEqual(badView.steps, [], "nothing was sent");

  const failing = await bus.send({
    to: ["workflow"],
    body: "```yaml\nfanout:\n  - to: broken\n    count: 2\n    prompt: Try\n" +
      "synthesize:\n  to: merge\n  prompt: Merge\n```\n",
    type: "workflow",
  });
  const failed = await resultOf(bus, failing);
  assert.equal(failed.failed, true);
  assert.match(
    failed.error!,
    /^Every fan-out run failed: fanout-1 \(broken\): exit 3: something went wrong: boom/,
  );
  const view = await readWorkflow(bus, await childChannelOf(failing));
  assert.deepEqual(view.steps.map((s) => s.step), ["fanout-1", "fanout-2"], "no synthesis");
  assert.equal(view.phase, "failed");
});

/**
 * An engine (`first`, SIGKILLed by the test) on a transport in `dir` with a 2 s lease, a bus on
 * it, and a workflow request sent: the fan-out and synthesis in `plan`.
 */
async function workflowToKill(dir: string, slowSeconds: string, plan: string) {
  const root = join(dir, "bus");
  const state = join(dir, "state");
  await makeTransport(root, `engine:\n  lease_seconds: 2\n${MODELS}`);
  const env = { SLOW_SECONDS: slowSeconds };
  const first = await EngineProcess.start(root, { alias: "a", state, env });
  const bus = await openBus(root);
  const request = await bus.send({ to: ["workflow"], body: plan, type: "workflow" });
  return { root, state, env, first, bus, request };
}

Deno.test("Workflow carries on after its engine is killed mid-fan-out, without repeating a step", async () => {
  await using dir = await tempDir();
  const { root, state, env, first, bus: opened, request } = await workflowToKill(
    dir.path,
    "2",
    "```yaml\nfanout:\n  - to: slow\n    count: 3\n    prompt: Think\n" +
      "synthesize:\n  to: merge\n  prompt: Merge\n```\n",
  );
  await using bus = opened;
  await first.waitFor((r) => r.event === "workflow.phase" && r.phase === "fanout");
  first.signal("SIGKILL");
  await first.exit();

  await using second = await EngineProcess.start(root, { alias: "a", state, env });
  const result = await resultOf(bus, request);
  assert.equal(result.failed, undefined, result.body);
  assert.match(result.body, /## Draft 3 of 3, by test\/slow@a\n\nslow reply to 1 messages/);
  const child = await childChannelOf(request);
  const messages = await Promise.all(
    (await bus.transport.listMessageIds(child)).map((id) => bus.transport.readMessage(child, id)),
  );
  const steps = messages.filter((m) => m.from === "workflow").map((m) => m.extra?.workflow_step);
  assert.deepEqual(steps.sort(), ["fanout-1", "fanout-2", "fanout-3", "synthesize"]);
  const results = (await bus.replies(request)).filter((m) => m.from === "workflow");
  assert.equal(results.length, 1, "one result");
  assert.ok(second.count((r) => r.event === "workflow.takeover") === 1);
});

Deno.test("Workflow is cancelled by deleting its child channel: a failed result, nothing more sent", async () => {
  await using dir = await tempDir();
  await using one = await engineWithBus(dir.path, `engine:\n  lease_seconds: 2\n${MODELS}`, {
    SLOW_SECONDS: "30",
  });
  const { engine, bus } = one;
  const request = await bus.send({
    to: ["workflow"],
    body: "```yaml\nfanout:\n  - to: slow\n    prompt: Think\nsynthesize:\n  to: merge\n" +
      "  prompt: Merge\n```\n",
    type: "workflow",
  });
  await engine.waitFor((r) => r.event === "run.spawned");
  const child = await childChannelOf(request);
  await bus.deleteChannel(child);
  // The next sweep (or message) finds the channel gone.
  const result = await resultOf(bus, request);
  assert.equal(result.failed, true);
  assert.equal(result.error, "Cancelled: its channel was deleted while it ran");
  assert.equal(result.body, "The workflow failed: Cancelled: its channel was deleted while it ran");
  await engine.waitFor((r) => r.event === "workflow.failed");
  await assert.rejects(bus.transport.getChannel(child), /No channel/, "not made again");
  assert.equal(engine.count((r) => r.event === "workflow.started"), 1);
});

Deno.test("Workflow whose child channel is deleted while its engine is down is cancelled by the engine that takes it over, not started again", async () => {
  await using dir = await tempDir();
  const { root, state, env, first, bus: opened, request } = await workflowToKill(
    dir.path,
    "30",
    "```yaml\nfanout:\n  - to: slow\n    prompt: Think\nsynthesize:\n  to: merge\n" +
      "  prompt: Merge\n```\n",
  );
  await using bus = opened;
  await first.waitFor((r) => r.event === "run.spawned");
  first.signal("SIGKILL");
  await first.exit();
  const child = await childChannelOf(request);
  await bus.deleteChannel(child);

  await using second = await EngineProcess.start(root, { alias: "a", state, env });
  const result = await resultOf(bus, request);
  assert.equal(result.error, "Cancelled: its channel was deleted while it ran");
  await second.waitFor((r) => r.event === "workflow.failed");
  await assert.rejects(bus.transport.getChannel(child), /No channel/, "not made again");
  assert.equal(second.count((r) => r.event === "workflow.started"), 0);
  const results = (await bus.replies(request)).filter((m) => m.from === "workflow");
  assert.equal(results.length, 1, "one result");
});

Deno.test("Workflow on a folder shared by two engines is coordinated by exactly one", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, MODELS);
  await using one = await EngineProcess.start(root, {
    alias: "one",
    state: join(dir.path, "s1"),
  });
  await using two = await EngineProcess.start(root, {
    alias: "two",
    state: join(dir.path, "s2"),
  });
  await using bus = await openBus(root);
  const requests = await Promise.all(
    [1, 2, 3].map(() => bus.send({ to: ["workflow"], body: PLAN, type: "workflow" })),
  );
  for (const request of requests) {
    const result = await resultOf(bus, request);
    assert.equal(result.failed, undefined, result.body);
    const view = await readWorkflow(bus, await childChannelOf(request));
    assert.deepEqual(view.steps.map((s) => s.step), ["fanout-1", "fanout-2", "synthesize"]);
    assert.equal((await bus.replies(request)).length, 1, "one result");
  }
  const coordinating = (e: EngineProcess) => e.count((r) => r.event === "workflow.coordinating");
  assert.equal(coordinating(one) + coordinating(two), 3);
});

Deno.test("Workflow across two machines on a git remote: steps run where their model is pinned, one coordinator", async () => {
  await using dir = await tempDir();
  const { roots } = await network(dir.path, ["a", "b"], MODELS);
  const start = (alias: string) =>
    EngineProcess.start(roots[alias]!, { alias, state: join(dir.path, `state-${alias}`) });
  await using a = await start("a");
  await using b = await start("b");
  await using bus = await openBus(roots.a!);
  const request = await bus.send({
    to: ["workflow@a"],
    body: "```yaml\nfanout:\n  - to: draft@b\n    count: 2\n    prompt: Draft\n" +
      "synthesize:\n  to: merge@b\n  prompt: Merge\n```\n",
    type: "workflow",
  });
  const result = await resultOf(bus, request);
  assert.equal(result.failed, undefined, result.body);
  assert.match(result.body, /^reply from test\/merge \(1 messages\) to: Merge/);
  assert.match(result.body, /## Draft 2 of 2, by test\/draft@b/);
  assert.equal(a.count((r) => r.event === "workflow.coordinating"), 1, "a coordinates");
  assert.equal(b.count((r) => r.event === "workflow.coordinating"), 0, "b was not asked to");
  assert.equal(a.count((r) => r.event === "run.start"), 0, "the steps ran on b");
  // The child channel, its plan and its completion travel through git like messages.
  const child = await childChannelOf(request);
  await b.waitFor((r) => r.event === "message.new" && r.ref === `${request.channel}/${result.id}`);
  await using busB = await openBus(roots.b!);
  const view = await readWorkflow(busB, child);
  assert.equal(view.host, "a");
  assert.deepEqual(view.steps.map((s) => s.reply?.from), [
    "test/draft@b",
    "test/draft@b",
    "test/merge@b",
  ]);
  await a.stop();
  const log = await git(roots.a!, "log", "--format=%B", "main");
  assert.match(log, /PLAN\.json of channel/);
  assert.match(log, /COMPLETE of channel/);
});
