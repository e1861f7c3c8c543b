// Composing a workflow: a real engine runs the planner (a script that reads its prompt, as a model
// does) for a compose round trip on the bus.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import { childChannelOf, readWorkflow } from "../../engine/workflow.ts";
import { composeWorkflow } from "../../engine/workflow_compose.ts";
import {
  checkPlan,
  planInBody,
  plannerPrompt,
  planProblems,
  planValueInReply,
} from "../../engine/workflow_plan.ts";
import { parseConfig } from "../../engine/config.ts";
import { CrosstalkError } from "../../schema/errors.ts";
import { COMPOSE_MODELS, engineWithBus, makeTransport, openBus } from "./_harness.ts";

async function rejection(promise: Promise<unknown>): Promise<CrosstalkError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CrosstalkError) return error;
    throw error;
  }
  throw new Error("expected a CrosstalkError");
}

Deno.test("composeWorkflow has a model plan the text in the workflows channel and returns its plan as yaml, ready to run", async () => {
  await using dir = await tempDir();
  await using one = await engineWithBus(dir.path, COMPOSE_MODELS);
  const { bus } = one;
  const prose = "Name the project.\nKeep it short.";
  const composed = await composeWorkflow(bus, prose, { requester: "tester" });

  assert.equal(composed.planner, "test/composer", "the first model of the transport plans it");
  assert.deepEqual(composed.problems, []);
  const plan = {
    fanout: [{ to: "draft", count: 2, prompt: "Draft: Name the project." }],
    synthesize: { to: "merge", prompt: "Pick the better draft." },
  };
  assert.deepEqual(composed.plan, plan);
  assert.equal(
    composed.plan_yaml,
    'fanout:\n  - to: draft\n    count: 2\n    prompt: "Draft: Name the project."\n' +
      "synthesize:\n  to: merge\n  prompt: Pick the better draft.\n",
  );
  assert.equal(composed.request, `${prose}\n\n\`\`\`yaml\n${composed.plan_yaml}\`\`\`\n`);
  assert.deepEqual(planInBody(composed.request, bus.config), plan);

  // The round trip is on the bus, in a channel of its own: the coordinator's planning prompt,
  // from workflow, and the planner's reply to it.
  const channel = await bus.resolveChannel("workflows");
  assert.equal(channel.parent, undefined);
  assert.equal(composed.message.channel, channel.id);
  const asked = await bus.transport.readMessage(channel.id, composed.message.id);
  assert.equal(asked.from, "workflow");
  assert.deepEqual(asked.to, ["test/composer"]);
  assert.equal(asked.body, plannerPrompt(prose, bus.config));
  assert.deepEqual(asked.extra, {
    workflow_phase: "compose",
    workflow_step: "compose",
    requested_by: "tester",
  });
  const reply = await bus.transport.readMessage(channel.id, composed.reply.id);
  assert.deepEqual(reply.re, [asked.id]);
  assert.equal(reply.from, "test/composer@a");
  assert.equal(composed.reply.from, "test/composer@a");

  // Sent as it is, the composed request runs as a written plan: nothing is planned again, and the
  // steps are told the text.
  const request = await bus.send({ to: ["workflow"], body: composed.request, type: "workflow" });
  const [result] = await bus.waitForReplies([request], 30_000);
  assert.ok(result, "the workflow answers");
  assert.equal(result.failed, undefined, result.body);
  assert.match(result.body, /^reply from test\/merge \(1 messages\) to: Pick the better draft\./);
  assert.match(result.body, /Draft: Name the project\.\n\n---\n\nThis is run 1 of 2 of a workflow/);
  const view = await readWorkflow(bus, await childChannelOf(request));
  assert.deepEqual(view.steps.map((s) => s.step), ["fanout-1", "fanout-2", "synthesize"]);
});

Deno.test("composeWorkflow runs composes asked at once as runs of their own, each answered with its own plan", async () => {
  await using dir = await tempDir();
  await using one = await engineWithBus(dir.path, COMPOSE_MODELS);
  const { bus } = one;
  const texts = ["Name the parser.", "Name the lexer.", "Name the printer."];
  const composed = await Promise.all(
    texts.map((text) => composeWorkflow(bus, text, { to: "composer" })),
  );
  assert.deepEqual(
    composed.map((c) => c.plan?.fanout[0]?.prompt),
    texts.map((text) => `Draft: ${text}`),
  );
  assert.equal(new Set(composed.map((c) => c.reply.id)).size, 3, "three replies, not one batch");
  assert.equal(
    (await bus.listChannels()).filter((c) => c.name === "workflows").length,
    1,
    "one channel for every compose",
  );
});

Deno.test("composeWorkflow returns a plan with problems to fix, and fails naming what is wrong for prose, a failed planner, a silent one, no answer in time and a planner that is no model", async () => {
  await using dir = await tempDir();
  await using one = await engineWithBus(dir.path, COMPOSE_MODELS);
  const { bus } = one;

  const ghost = await composeWorkflow(bus, "Name the ghost ship.", { to: "test/composer" });
  assert.equal(ghost.plan, null);
  assert.equal(ghost.problems.length, 1);
  assert.match(ghost.problems[0]!, /^fanout\[0\]\.to: Unknown model "ghost\/writer" \(known: /);
  assert.match(ghost.plan_yaml, /^fanout:\n {2}- to: ghost\/writer\n {4}count: 2\n/);
  assert.match(ghost.request, /^Name the ghost ship\.\n\n```yaml\nfanout:\n/);

  const prose = await rejection(composeWorkflow(bus, "Name it.", { to: "chatty" }));
  assert.equal(prose.code, "ERR_WORKFLOW_INVALID");
  assert.match(
    prose.message,
    /^The planner's reply \(test\/chatty@a\) holds no plan: expected a JSON object with a fanout list, got "Great idea! I would have a few people draft names, then pick the nicest one\."$/,
  );

  const failed = await rejection(composeWorkflow(bus, "Name it.", { to: "broken" }));
  assert.equal(failed.code, "ERR_WORKFLOW_INVALID");
  assert.match(failed.message, /^The planner \(test\/broken@a\) failed: .*boom/);

  const silent = await rejection(
    composeWorkflow(bus, "Name it.", { to: "ghostcli", timeoutMs: 300 }),
  );
  assert.equal(silent.code, "ERR_TIMEOUT");
  assert.match(
    silent.message,
    /^The planner "ghostcli" did not answer within 0\.3s: no engine has taken it \(is one running that runs this model\?\) \(its planning message is workflows\/\d{4}\/\d{2}\/\d{2}\/\d{9}Z-[0-9a-f]{8}\.md\)$/,
  );

  // A planner that prints nothing: its run's record ends the wait, long before the timeout.
  const quiet = await rejection(
    composeWorkflow(bus, "Name it.", { to: "quiet", timeoutMs: 120_000 }),
  );
  assert.equal(quiet.code, "ERR_WORKFLOW_INVALID");
  assert.match(
    quiet.message,
    /^The planner "quiet" answered nothing: its run ended without printing a plan \(its planning message is workflows\/\d{4}\/\d{2}\/\d{2}\/\d{9}Z-[0-9a-f]{8}\.md\)$/,
  );

  for (const to of ["nobody", "workflow"]) {
    const refused = await rejection(composeWorkflow(bus, "Name it.", { to }));
    assert.equal(refused.code, "ERR_UNKNOWN_MODEL");
    assert.match(refused.message, new RegExp(`^"${to}" is not a model of this transport`));
  }
  const unknown = await rejection(composeWorkflow(bus, "Name it.", { to: "test/nobody" }));
  assert.equal(unknown.code, "ERR_UNKNOWN_MODEL");
  const empty = await rejection(composeWorkflow(bus, "  \n", { to: "composer" }));
  assert.equal(empty.code, "ERR_WORKFLOW_INVALID");
  assert.match(empty.message, /^Nothing to compose/);
});

Deno.test("planProblems lists what checkPlan refuses without throwing, for the requester to fix", async () => {
  const config = await parseConfig(
    "transport: local\nproviders:\n  test:\n    models:\n      draft: draft --print\n",
    "/nonexistent",
  );
  const good = { fanout: [{ to: "draft", prompt: "Hi" }] };
  assert.deepEqual(planProblems(good, config), {
    plan: { fanout: [{ to: "draft", count: 1, prompt: "Hi" }] },
    problems: [],
  });
  const bad = planValueInReply(
    'Sure:\n```json\n{"fanout": [{"to": "ghost", "count": 11, "prompt": ""}], "then": 1}\n```',
  );
  assert.deepEqual(planProblems(bad, config), {
    plan: undefined,
    problems: [
      "then: is not a plan key",
      'fanout[0].to: "ghost" is not a model of this transport',
      "fanout[0].prompt: must be a non-empty string",
      "fanout[0].count: must be a whole number from 1 to 10",
    ],
  });
  assert.throws(
    () => checkPlan(bad, config),
    /^CrosstalkError: The plan is not valid: then: is not/,
  );
  assert.equal(planValueInReply("No plan here, sorry."), undefined);
});

Deno.test("composeWorkflow waits out its timeout when the watch of its planner's run cannot start, and the process lives on", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, COMPOSE_MODELS);
  // Stands for any failure to watch the claim records (Deno.watchFs past the inotify limits):
  // a file where their folder goes.
  await Deno.writeTextFile(join(root, "data", "claims"), "");
  await using bus = await openBus(root);
  const late = await rejection(composeWorkflow(bus, "Name it.", { to: "quiet", timeoutMs: 300 }));
  assert.equal(late.code, "ERR_TIMEOUT");
  assert.match(late.message, /^The planner "quiet" did not answer within 0\.3s/);
});
