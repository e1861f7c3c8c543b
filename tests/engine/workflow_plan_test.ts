import assert from "node:assert/strict";
import { parseConfig } from "../../engine/config.ts";
import {
  checkPlan,
  planInBody,
  planInReply,
  proseOf,
  requirePlan,
} from "../../engine/workflow_plan.ts";
import { CrosstalkError } from "../../schema/errors.ts";

const config = await parseConfig(
  `transport: local
providers:
  anthropic:
    models:
      sonnet: claude --print --model sonnet
      opus: claude --print --model opus
  work:
    models:
      opus: claude --print --model opus
`,
  "/nonexistent",
);

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof CrosstalkError) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error("no error");
}

Deno.test("planInBody reads a fenced yaml or json plan, or a body that is one, and none from prose", () => {
  const yaml = "Write a proposal.\n\n```yaml\nfanout:\n  - to: sonnet\n    count: 3\n" +
    "    prompt: Draft it.\n    as: junior\nsynthesize:\n  to: anthropic/opus\n  prompt: Merge.\n```\n";
  assert.deepEqual(planInBody(yaml, config), {
    fanout: [{ to: "sonnet", count: 3, prompt: "Draft it.", as: "junior" }],
    synthesize: { to: "anthropic/opus", prompt: "Merge." },
  });
  const json = '~~~json\n{"fanout": [{"to": "sonnet@laptop", "prompt": "Go"}]}\n~~~';
  assert.deepEqual(planInBody(json, config), {
    fanout: [{ to: "sonnet@laptop", count: 1, prompt: "Go" }],
  });
  assert.deepEqual(planInBody("fanout:\n  - to: sonnet\n    prompt: Go\n", config)?.fanout, [
    { to: "sonnet", count: 1, prompt: "Go" },
  ]);
  assert.equal(planInBody("Three drafts by sonnet, then opus merges them.", config), undefined);
  assert.equal(planInBody("```yaml\nother: thing\n```", config), undefined, "no fanout key");
  assert.equal(proseOf(yaml), "Write a proposal.");
  assert.equal(proseOf("fanout:\n  - to: sonnet\n    prompt: Go\n"), "");
});

Deno.test("checkPlan names every problem: unknown or ambiguous models, counts, prompts, keys, limits", () => {
  assert.equal(
    problem(() =>
      checkPlan({
        fanout: [
          { to: "nobody/x", prompt: "a" },
          { to: "opus", count: 0, prompt: "" },
          { to: "sonnet", prompt: "b", as: "../etc", extra: 1 },
        ],
        synthesize: { to: "steve", prompt: "c", count: 2 },
        then: "more",
      }, config)
    ),
    'ERR_WORKFLOW_INVALID: The plan is not valid: then: is not a plan key; fanout[0].to: Unknown model "nobody/x" (known: anthropic/sonnet, anthropic/opus, work/opus); ' +
      'fanout[1].to: Model "opus" is ambiguous: anthropic/opus, work/opus (name the provider); fanout[1].prompt: must be a non-empty string; ' +
      "fanout[1].count: must be a whole number from 1 to 10; fanout[2].extra: is not a step key; fanout[2].as: must be an actor name (letters, digits, . _ -); " +
      'synthesize.count: is not a step key; synthesize.to: "steve" is not a model of this transport',
  );
  assert.match(
    problem(() =>
      checkPlan({
        fanout: [1, 2, 3].map(() => ({ to: "sonnet", count: 10, prompt: "x" })),
      }, config)
    ),
    /fanout: 30 runs in all is over the limit of 20/,
  );
  assert.match(problem(() => checkPlan({ fanout: [] }, config)), /fanout: must be a list/);
  assert.match(problem(() => checkPlan([1], config)), /must be a mapping/);
});

Deno.test("planInReply finds the plan in a planner's chatty reply, and says when there is none", () => {
  const reply = 'Sure! Here is my plan:\n\n```json\n{"fanout": [{"to": "sonnet", "count": 2, ' +
    '"prompt": "Draft"}], "synthesize": {"to": "anthropic/opus", "prompt": "Merge"}}\n```\nGood luck.';
  assert.deepEqual(planInReply(reply, config).fanout, [{
    to: "sonnet",
    count: 2,
    prompt: "Draft",
  }]);
  const bare = 'I suggest {"fanout": [{"to": "sonnet", "prompt": "Draft"}]} as the plan.';
  assert.equal(planInReply(bare, config).fanout.length, 1);
  assert.equal(
    problem(() => planInReply("I cannot plan this.", config)),
    "ERR_WORKFLOW_INVALID: The planner's reply holds no plan: expected a JSON object with a fanout list",
  );
  assert.match(problem(() => requirePlan("just prose", config)), /No plan in this text/);
});
