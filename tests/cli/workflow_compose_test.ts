// `crosstalk workflow compose`: through a running engine's API and on the transport folder, with
// a real engine running the planner (a script that reads its prompt, as a model does).
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import {
  COMPOSE_MODELS,
  EngineProcess,
  makeTransport,
  namedTransport,
} from "../engine/_harness.ts";

const PLAN_YAML = 'fanout:\n  - to: draft\n    count: 2\n    prompt: "Draft: Name the project."\n' +
  "synthesize:\n  to: merge\n  prompt: Pick the better draft.\n";

/** An engine on the named transport `team` of a test home, and the CLI against it. */
async function engineAndCli(home: string) {
  const { root, state } = namedTransport(home);
  await makeTransport(root, COMPOSE_MODELS);
  const engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  const cli = (args: string[], stdin?: string) =>
    runCrosstalk([...args, "--containername", "team"], {
      home,
      ...(stdin === undefined ? {} : { stdin }),
    });
  return { engine, root, cli };
}

Deno.test("workflow compose prints a request file with the planner's plan, which workflow check accepts and workflow run runs", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { engine, cli } = await engineAndCli(home);
  await using _engine = engine;

  const printed = await cli(["workflow", "compose", "Name the project.", "--to", "composer"]);
  assert.equal(printed.code, 0, printed.stderr);
  assert.equal(
    printed.stdout,
    `---\ntype: workflow\nto: workflow\n---\n\nName the project.\n\n\`\`\`yaml\n${PLAN_YAML}\`\`\`\n`,
  );

  // The same from standard input, planned by the first model, written to a file to review.
  const file = join(home, "plan.md");
  const written = await cli(["workflow", "compose", "-", "--out", file], "Name the project.\n");
  assert.equal(written.code, 0, written.stderr);
  assert.equal(written.stdout, "");
  assert.match(
    written.stderr,
    /^Wrote ".*plan\.md": review it, then run it with "crosstalk workflow run /,
  );
  assert.equal(await Deno.readTextFile(file), printed.stdout);

  const checked = await cli(["workflow", "check", file]);
  assert.equal(checked.code, 0, checked.stderr);
  assert.equal(
    checked.stdout,
    "fan out: 2 x draft: Draft: Name the project.\nsynthesize: merge: Pick the better draft.\n",
  );
  const run = await cli(["workflow", "run", file, "--wait", "--timeout", "30"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /reply from test\/merge \(1 messages\) to: Pick the better draft\./);
  assert.match(run.stdout, /## Draft 2 of 2, by test\/draft@a/);

  const json = await cli([
    "workflow",
    "compose",
    "Name the project.",
    "--to",
    "composer",
    "--json",
  ]);
  assert.equal(json.code, 0, json.stderr);
  const composed = JSON.parse(json.stdout);
  assert.equal(composed.plan_yaml, PLAN_YAML);
  assert.deepEqual(composed.problems, []);
  assert.equal(composed.planner, "composer");
  // The plan alone, as YAML, is a request too (with no text for the steps).
  const yaml = join(home, "plan.yaml");
  await Deno.writeTextFile(yaml, composed.plan_yaml);
  const yamlChecked = await cli(["workflow", "check", yaml]);
  assert.equal(yamlChecked.stdout, checked.stdout, yamlChecked.stderr);
});

Deno.test("workflow compose --run --wait starts the composed workflow in its channel and prints its result", async () => {
  await using dir = await tempDir();
  const { engine, cli } = await engineAndCli(dir.path);
  await using _engine = engine;
  await cli(["channel", "create", "naming"]);

  const run = await cli([
    "workflow",
    "compose",
    "Name the project.",
    "--to",
    "composer",
    "--channel",
    "naming",
    "--run",
    "--wait",
    "--timeout",
    "30",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.startsWith("---\ntype: workflow\nto: workflow\nchannel: naming\n---\n"));
  const child = /^child channel ([0-9a-f-]{36})$/m.exec(run.stdout)?.[1];
  assert.ok(child, run.stdout);
  assert.match(run.stdout, /\n\nreply from test\/merge \(1 messages\) to: Pick the better draft\./);

  const status = await cli(["workflow", "status", child!]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^workflow {3}naming\.workflow-[0-9a-f]{8} /m);
  assert.match(status.stdout, /^phase\s+complete$/m);
});

Deno.test("workflow compose shows a plan with problems and does not run it, and fails clearly for prose, no answer in time and a misuse", async () => {
  await using dir = await tempDir();
  const { engine, root, cli } = await engineAndCli(dir.path);
  await using _engine = engine;

  const ghost = await cli(["workflow", "compose", "Name the ghost ship.", "--run"]);
  assert.equal(ghost.code, 65);
  assert.match(ghost.stdout, /^ {2}- to: ghost\/writer$/m, "shown to be fixed");
  assert.match(
    ghost.stderr,
    /^error: The planner's plan is not valid: fanout\[0\]\.to: Unknown model "ghost\/writer"/,
  );
  assert.match(ghost.stderr, /\(not started\)\n$/);
  const listed = await cli(["workflow", "status", "--json"]);
  assert.deepEqual(JSON.parse(listed.stdout), [], "nothing was started");

  const prose = await cli(["workflow", "compose", "Name it.", "--to", "chatty"]);
  assert.equal(prose.code, 65);
  assert.equal(prose.stdout, "");
  assert.match(
    prose.stderr,
    /holds no plan: expected a JSON object with a fanout list, got "Great/,
  );

  // On the folder, without the API: the engine watching it runs the planner all the same.
  const silent = await runCrosstalk(
    ["workflow", "compose", "Name it.", "--to", "ghostcli", "--timeout", "0.2", "--path", root],
    { home: dir.path },
  );
  assert.equal(silent.code, 75);
  assert.match(silent.stderr, /The planner "ghostcli" did not answer within 0\.2s/);
  const direct = await runCrosstalk(
    ["workflow", "compose", "Name the project.", "--to", "composer", "--path", root],
    { home: dir.path },
  );
  assert.equal(direct.code, 0, direct.stderr);
  assert.match(direct.stdout, /^ {4}prompt: "Draft: Name the project\."$/m);

  const misuse = await cli(["workflow", "compose", "Name it.", "--wait"]);
  assert.equal(misuse.code, 64);
  assert.match(misuse.stderr, /--wait needs --run/);
});
