// `crosstalk workflow run | check | status`, through a running engine's API and directly.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { AGENTS, EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";

const MODELS = `providers:\n  test:\n    models:\n      draft: ${join(AGENTS, "reply.sh")}\n` +
  `      merge: ${join(AGENTS, "reply.sh")}\n`;

const REQUEST = "---\ntype: workflow\nto: workflow\n---\n\nName the project.\n\n" +
  "```yaml\nfanout:\n  - to: draft\n    count: 2\n    prompt: Draft a name.\n" +
  "synthesize:\n  to: merge\n  prompt: Pick one.\n```\n";

Deno.test("workflow run --wait prints the result; status lists the workflow and shows its steps", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  await makeTransport(root, MODELS);
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  const file = join(home, "request.md");
  await Deno.writeTextFile(file, REQUEST);
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });

  const run = await cli("workflow", "run", file, "--wait", "--timeout", "30");
  assert.equal(run.code, 0, run.stderr);
  const [id, childLine] = run.stdout.split("\n");
  assert.match(id!, /^\d{4}\/\d{2}\/\d{2}\/\d{9}Z-[0-9a-f]{8}\.md$/);
  const child = /^child channel ([0-9a-f-]{36})$/.exec(childLine!)?.[1];
  assert.ok(child, run.stdout);
  assert.match(run.stdout, /reply from test\/merge \(1 messages\) to: Pick one\./);
  assert.match(run.stdout, /## Draft 2 of 2, by test\/draft@a/);

  const shown = JSON.parse((await cli("message", "show", id!, "--json")).stdout);
  assert.equal(shown.type, "workflow");
  assert.equal(shown.from, "boss", "sent through the API, as the engine's first admin");

  const list = await cli("workflow", "status");
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${child}\\s+complete\\s+3/3\\s`, "m"));

  const one = await cli("workflow", "status", child!.slice(0, 8));
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /^phase\s+complete$/m);
  assert.match(one.stdout, /^ {2}fanout-1\s+draft\s+replied by test\/draft@a$/m);
  assert.match(one.stdout, /^ {2}synthesize\s+merge\s+replied by test\/merge@a$/m);
});

Deno.test("workflow check names what is wrong in a plan and sends nothing", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "bus");
  await makeTransport(root, MODELS);
  const good = join(dir.path, "good.md");
  const bad = join(dir.path, "bad.md");
  const prose = join(dir.path, "prose.md");
  await Deno.writeTextFile(good, REQUEST);
  await Deno.writeTextFile(
    bad,
    "```yaml\nfanout:\n  - to: nobody\n    count: 50\n    prompt: Hi\n  - prompt: ''\n```\n",
  );
  await Deno.writeTextFile(prose, "Just some prose, no plan.");
  const cli = (...args: string[]) => runCrosstalk([...args, "--path", root], { home: dir.path });

  const ok = await cli("workflow", "check", good);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(
    ok.stdout,
    "fan out: 2 x draft: Draft a name.\nsynthesize: merge: Pick one.\n",
  );

  const wrong = await cli("workflow", "check", bad);
  assert.equal(wrong.code, 65, wrong.stdout);
  assert.match(wrong.stderr, /fanout\[0\]\.to: "nobody" is not a model of this transport/);
  assert.match(wrong.stderr, /fanout\[0\]\.count: must be a whole number from 1 to 10/);
  assert.match(wrong.stderr, /fanout\[1\]\.to: must be a model/);
  assert.match(wrong.stderr, /fanout\[1\]\.prompt: must be a non-empty string/);

  const none = await cli("workflow", "check", prose);
  assert.equal(none.code, 65);
  assert.match(none.stderr, /No plan in this text/);

  // A request to two addresses is refused before anything is written.
  const two = join(dir.path, "two.md");
  await Deno.writeTextFile(two, "---\nto: draft\n---\nHi");
  const refused = await cli("workflow", "run", two, "--to", "draft,merge");
  assert.equal(refused.code, 65);
  assert.match(refused.stderr, /A workflow goes to "workflow" or to the one model that plans it/);
  const badKey = join(dir.path, "key.md");
  await Deno.writeTextFile(badKey, "---\nfrom: someone\n---\nHi");
  const keyRefused = await cli("workflow", "run", badKey);
  assert.equal(keyRefused.code, 65);
  assert.match(keyRefused.stderr, /from is not a workflow file key/);
  const listed = await cli("message", "list", "--json");
  assert.deepEqual(JSON.parse(listed.stdout), [], "nothing was sent");
});
