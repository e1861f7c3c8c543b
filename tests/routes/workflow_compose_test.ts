// POST /api/workflows/compose over real HTTP, against a real engine that runs the planners.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import { COMPOSE_MODELS, EngineProcess, makeTransport } from "../engine/_harness.ts";

const BOSS = { username: "boss", passphrase: "the boss passphrase" };

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** An engine whose first user is boss, and a way to POST to its compose route as boss. */
async function engineWithBoss(dir: string) {
  const root = join(dir, "bus");
  await makeTransport(root, COMPOSE_MODELS);
  const engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir, "state"),
    env: { CROSSTALK_INIT_USERNAME: BOSS.username, CROSSTALK_INIT_PASSPHRASE: BOSS.passphrase },
  });
  const url = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  const login = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(BOSS),
  });
  const { token } = await login.json();
  const compose = async (body: unknown): Promise<Answer> => {
    const response = await fetch(`${url}/api/workflows/compose`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: response.status, json: await response.json() };
  };
  const get = async (path: string) =>
    await (await fetch(`${url}${path}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  return { engine, compose, get };
}

function error(answer: Answer): { code: string; message: string } {
  return answer.json.error as { code: string; message: string };
}

Deno.test("POST /api/workflows/compose answers the planner's plan as yaml and as a request to run", async () => {
  await using dir = await tempDir();
  const { engine, compose, get } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const answer = await compose({ text: "Name the project.", to: "composer", timeout_seconds: 30 });
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  assert.equal(answer.json.planner, "composer");
  assert.deepEqual(answer.json.problems, []);
  assert.deepEqual(answer.json.plan, {
    fanout: [{ to: "draft", count: 2, prompt: "Draft: Name the project." }],
    synthesize: { to: "merge", prompt: "Pick the better draft." },
  });
  assert.equal(
    answer.json.request,
    "Name the project.\n\n```yaml\n" + answer.json.plan_yaml + "```\n",
  );
  assert.match(answer.json.plan_yaml as string, /^fanout:\n {2}- to: draft\n {4}count: 2\n/);
  // The planning message records who asked; it went to the workflows channel.
  const { channel, id } = answer.json.message as { channel: string; id: string };
  const asked = await get(`/api/messages/${channel}/${id}`);
  assert.equal(asked.from, "workflow");
  assert.equal(asked.extra.requested_by, "boss");
  const channels = await get("/api/channels");
  assert.equal(
    channels.channels.find((c: { id: string }) => c.id === channel)?.name,
    "workflows",
  );
});

Deno.test("POST /api/workflows/compose refuses a bad body, a planner that is no model, and a reply with no plan, naming what is wrong", async () => {
  await using dir = await tempDir();
  const { engine, compose } = await engineWithBoss(dir.path);
  await using _engine = engine;

  const bad: [unknown, RegExp][] = [
    ["not json", /The request body must be a JSON object/],
    [[], /The request body must be a JSON object/],
    [{}, /The request body needs "text"/],
    [{ text: 3 }, /"text" must be string/],
    [{ text: "  " }, /"text" must describe the workflow/],
    [{ text: "Hi", model: "x" }, /Unknown field "model"/],
    [{ text: "Hi", to: ["composer"] }, /"to" must be string/],
    [{ text: "Hi", timeout_seconds: "5" }, /"timeout_seconds" must be number/],
    [{ text: "Hi", timeout_seconds: 0 }, /"timeout_seconds" must be a number of seconds above 0/],
    [{ text: "Hi", timeout_seconds: 3601 }, /at most 3600/],
  ];
  for (const [body, message] of bad) {
    const answer = await compose(body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.equal(error(answer).code, "ERR_BODY_INVALID", JSON.stringify(body));
    assert.match(error(answer).message, message);
  }

  const unknown = await compose({ text: "Hi", to: "test/nobody" });
  assert.equal(unknown.status, 400);
  assert.equal(error(unknown).code, "ERR_UNKNOWN_MODEL");
  assert.match(error(unknown).message, /Unknown model "test\/nobody" \(known: test\/composer, /);
  const person = await compose({ text: "Hi", to: "boss" });
  assert.equal(person.status, 400);
  assert.match(error(person).message, /^"boss" is not a model of this transport/);
  const nowhere = await compose({ text: "Hi", to: "composer", channel: "no-such-channel" });
  assert.equal(nowhere.status, 404);
  assert.equal(error(nowhere).code, "ERR_CHANNEL_NOT_FOUND");

  const garbage = await compose({ text: "Name the project.", to: "chatty" });
  assert.equal(garbage.status, 400);
  assert.equal(error(garbage).code, "ERR_WORKFLOW_INVALID");
  assert.match(
    error(garbage).message,
    /^The planner's reply \(test\/chatty@a\) holds no plan: expected a JSON object with a fanout list, got "Great idea!/,
  );
  const failing = await compose({ text: "Name the project.", to: "broken" });
  assert.equal(failing.status, 400);
  assert.match(error(failing).message, /^The planner \(test\/broken@a\) failed: .*boom/);
  const silent = await compose({ text: "Name the project.", to: "ghostcli", timeout_seconds: 0.2 });
  assert.equal(silent.status, 504);
  assert.equal(error(silent).code, "ERR_TIMEOUT");
  assert.match(error(silent).message, /^The planner "ghostcli" did not answer within 0\.2s/);

  // A plan with problems is no error: it comes back to be fixed.
  const ghost = await compose({ text: "Name the ghost ship.", to: "composer" });
  assert.equal(ghost.status, 200);
  assert.equal(ghost.json.plan, null);
  assert.match(
    (ghost.json.problems as string[])[0]!,
    /^fanout\[0\]\.to: Unknown model "ghost\/writer"/,
  );
});
