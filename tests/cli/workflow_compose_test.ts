// `crosstalk workflow compose`: through a running engine's API and on the transport folder, with
// a real engine running the planner (a script that reads its prompt, as a model does).
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { Terminal } from "./_terminal.ts";
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
  const cli = (args: string[], stdin?: string, env?: Record<string, string>) =>
    runCrosstalk([...args, "--containername", "team"], {
      home,
      ...(stdin === undefined ? {} : { stdin }),
      ...(env === undefined ? {} : { env }),
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
  const editJson = await cli(["workflow", "compose", "Name it.", "--edit", "--json"]);
  assert.equal(editJson.code, 64);
  assert.match(editJson.stderr, /--edit goes without --json/);
});

/**
 * An editor for `compose --edit`: a shell script that records the file it was given (its last
 * argument, as `code --wait FILE` gets it) in `<home>/edited`, then runs `body` on it (`$f`).
 */
async function editor(home: string, name: string, body: string): Promise<string> {
  const path = join(home, `${name}.sh`);
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nfor f; do :; done\necho "$f" >> "${join(home, "edited")}"\n${body}\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** The files the editors were given, in order. */
async function edited(home: string): Promise<string[]> {
  return (await Deno.readTextFile(join(home, "edited"))).trim().split("\n");
}

/** What a compose --edit run leaves behind: no request sent, no workflow started. */
async function nothingSent(cli: (args: string[]) => ReturnType<typeof runCrosstalk>) {
  const workflows = await cli(["workflow", "status", "--json"]);
  assert.deepEqual(JSON.parse(workflows.stdout), [], "no workflow started");
  const general = await cli(["message", "list", "--json"]);
  assert.equal(general.code, 0, general.stderr);
  assert.deepEqual(JSON.parse(general.stdout), [], "no request sent");
}

const TWO_TO_THREE = `sed -i 's/count: 2/count: 3/' "$f"`;

Deno.test("workflow compose --edit --run sends the plan as $VISUAL edited it (run through the shell, with its arguments), and removes the temporary file", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { engine, cli } = await engineAndCli(home);
  await using _engine = engine;
  const tmp = join(home, "tmp");
  await Deno.mkdir(tmp);
  const visual = await editor(home, "three", TWO_TO_THREE);

  const run = await cli(
    ["workflow", "compose", "Name the project.", "--to", "composer", "--edit", "--run", "--wait"],
    undefined,
    // VISUAL comes before EDITOR, which would fail; "--wait" is an argument, as for VS Code.
    { VISUAL: `${visual} --wait`, EDITOR: "false", TMPDIR: tmp },
  );
  assert.equal(run.code, 0, run.stderr);
  // The request as edited, the plan as checked, then the workflow started and its result.
  assert.ok(run.stdout.startsWith("---\ntype: workflow\nto: workflow\n---\n\nName the project."));
  assert.match(run.stdout, /^ {4}count: 3$/m);
  assert.match(run.stderr, /^fan out: 3 x draft: Draft: Name the project\.$/m);
  assert.match(run.stdout, /^child channel [0-9a-f-]{36}$/m);
  assert.match(run.stdout, /## Draft 3 of 3, by test\/draft@a/);
  const [file] = await edited(home);
  assert.match(file!, new RegExp(`^${tmp}/crosstalk-workflow-.*\\.md$`));
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), [], "the temporary file is gone");
});

Deno.test("workflow compose --edit: a bad edit, a failing editor, no answer and a run that cannot start send nothing; a bad edit and a run that cannot start keep the edited file, and name it", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { engine, cli } = await engineAndCli(home);
  await using _engine = engine;
  const tmp = join(home, "tmp");
  await Deno.mkdir(tmp);
  const compose = (env: Record<string, string>, ...more: string[]) =>
    cli(["workflow", "compose", "Name the project.", "--to", "composer", "--edit", ...more], "", {
      TMPDIR: tmp,
      ...env,
    });

  // A plan the checks refuse, without a terminal to offer another edit on: 65, nothing sent.
  const fifty = await editor(home, "fifty", `sed -i 's/count: 2/count: 50/' "$f"`);
  const bad = await compose({ EDITOR: fifty }, "--run");
  assert.equal(bad.code, 65, bad.stderr);
  assert.match(bad.stderr, /^error: .*fanout\[0\]\.count: .*10/m);
  assert.equal(bad.stdout, "");
  // The bad edit is the user's work all the same: kept, and named.
  const badFile = (await edited(home)).at(-1)!;
  assert.match(
    bad.stderr,
    new RegExp(
      `^Nothing was sent; the edited request is kept in "${badFile}" \\(fix it, then run it with "crosstalk workflow run ${badFile}"\\)$`,
      "m",
    ),
  );
  assert.match(await Deno.readTextFile(badFile), /^ {4}count: 50$/m);
  await Deno.remove(badFile);

  // An editor that fails (or is not there): a clear error, nothing sent.
  const quit = await editor(home, "quit", `${TWO_TO_THREE}\nexit 3`);
  const failed = await compose({ EDITOR: quit }, "--run");
  assert.equal(failed.code, 1, failed.stderr);
  assert.equal(
    failed.stderr,
    `error: The editor "${quit}" exited with status 3: nothing was sent\n`,
  );
  const missing = await compose({ EDITOR: "no-such-editor-here" }, "--run");
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(
    missing.stderr,
    /^error: The editor "no-such-editor-here" exited with status 127 \(the shell found no such command: set VISUAL or EDITOR\): nothing was sent$/m,
  );
  await nothingSent(cli);

  // A good edit nobody says to start (no --run, no answer on stdin): shown, not started.
  const three = await editor(home, "three", TWO_TO_THREE);
  const unanswered = await compose({ EDITOR: three });
  assert.equal(unanswered.code, 0, unanswered.stderr);
  assert.match(unanswered.stdout, /^ {4}count: 3$/m, "the edit is printed, not lost");
  assert.match(unanswered.stderr, /^Not started \(the request is printed above\); run it with/m);
  await nothingSent(cli);
  assert.equal((await edited(home)).length, 3, "fifty, quit, three (the missing one never ran)");
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), [], "every temporary file is gone");

  // With --out, that file is the one edited, and it stays.
  const out = join(home, "name.md");
  const kept = await compose({ EDITOR: three }, "--out", out);
  assert.equal(kept.code, 0, kept.stderr);
  assert.equal(kept.stdout, "");
  assert.equal((await edited(home)).at(-1), out);
  assert.match(await Deno.readTextFile(out), /^ {4}count: 3$/m);
  assert.match(kept.stderr, /Not started: ".*name\.md" holds the request/);

  // A workflow that cannot start (its channel is gone): the edit is kept, and named.
  const nowhere = await compose({ EDITOR: three }, "--channel", "nowhere", "--run");
  assert.equal(nowhere.code, 66, nowhere.stderr);
  const left = (await edited(home)).at(-1)!;
  assert.match(
    nowhere.stderr,
    new RegExp(
      `^error: No channel named "nowhere".*; the edited request is kept in "${left}" \\(run it with "crosstalk workflow run ${left}"\\)$`,
      "m",
    ),
  );
  assert.match(await Deno.readTextFile(left), /^channel: nowhere$/m);
  assert.match(await Deno.readTextFile(left), /^ {4}count: 3$/m);
  await nothingSent(cli);
});

Deno.test("workflow compose --edit on a terminal offers to edit a bad plan again, then asks before it starts the workflow", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { engine, cli } = await engineAndCli(home);
  await using _engine = engine;
  const tmp = join(home, "tmp");
  await Deno.mkdir(tmp);
  // The first edit breaks the plan, the second makes it good.
  const twice = await editor(
    home,
    "twice",
    `if [ "$(wc -l < "${join(home, "edited")}")" -eq 1 ]; then\n` +
      `  sed -i 's/count: 2/count: 50/' "$f"\nelse\n  sed -i 's/count: 50/count: 3/' "$f"\nfi`,
  );
  await using terminal = new Terminal(
    home,
    [
      "workflow",
      "compose",
      "Name the project.",
      "--to",
      "composer",
      "--edit",
      "--containername",
      "team",
    ],
    { EDITOR: twice, TMPDIR: tmp },
  );
  await terminal.shows("Edit it again? [Y/n] ");
  assert.match(terminal.screen, /fanout\[0\]\.count: /);
  await terminal.type("\r");
  await terminal.shows("Start this workflow? [y/N] ");
  assert.match(terminal.screen, /fan out: 3 x draft: Draft: Name the project\./);
  await terminal.type("y\r");
  assert.equal(await terminal.exit(), 0, terminal.screen);
  assert.match(terminal.screen, /child channel [0-9a-f-]{36}/);
  const [first, second] = await edited(home);
  assert.equal(first, second, "the same file, with the bad edit in it, opened again");
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), [], "the temporary file is gone");

  // Ctrl-C at the question ends it as Ctrl-C does, and takes the temporary file with it.
  await using interrupted = new Terminal(
    home,
    ["workflow", "compose", "Name it.", "--to", "composer", "--edit", "--containername", "team"],
    { EDITOR: await editor(home, "three", TWO_TO_THREE), TMPDIR: tmp },
  );
  await interrupted.shows("Start this workflow? [y/N] ");
  assert.equal((await Array.fromAsync(Deno.readDir(tmp))).length, 1);
  await interrupted.type("\x03");
  assert.equal(await interrupted.exit(), 130, interrupted.screen);
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), [], "the temporary file is gone");
  const workflows = await cli(["workflow", "status", "--json"]);
  assert.equal(JSON.parse(workflows.stdout).length, 1, "only the first one started");
});
