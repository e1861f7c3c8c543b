// The task and badge routes acting for another name (`from`), through app.request() on a real
// engine: an admin's token may act as a tmux agent (real tmux), a live agent, a user or a model,
// whose role and folder decide a claim; any other token only as itself.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import { TmuxServer } from "../_tmux.ts";
import { engineWithApi } from "../engine/_in_process.ts";

type Api = Awaited<ReturnType<typeof engineWithApi>>;

// A model no engine runs (its CLI is not on PATH): a name to act as, never spawned.
const YAML = "providers:\n  test:\n    models:\n      echo: no-such-agent-cli\n";

/** A new message from the admin, and the path of its task routes (`…/task`). */
async function newTask(api: Api, body: string) {
  const sent = await api.call(api.tokens.admin, "POST", "/api/messages", { to: "here", body });
  assert.equal(sent.status, 201, JSON.stringify(sent.json));
  const { channel, id } = sent.json as { channel: string; id: string };
  return { channel, id, at: `/api/messages/${channel}/${id}/task` };
}

/** The task (null when none) and badges recorded on a message. */
async function notesOf(api: Api, ref: { channel: string; id: string }) {
  const r = await api.call(api.tokens.admin, "POST", `/api/channels/${ref.channel}/annotations`, {
    ids: [ref.id],
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.annotations[ref.id] as {
    task: { state: string; flaggedBy: string; claimedBy?: string } | null;
    badges: { type: string; by: string }[];
  };
}

Deno.test("task routes with an admin's from act as the tmux agent it names: its role and folder decide a claim, and the flag, claim, result and badge are recorded as it", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  await tmux.program("coder", "aider", dir.path);
  await tmux.program("builder", "make", dir.path);
  const app = join(dir.path, "app");
  await Deno.mkdir(app);
  await using api = await engineWithApi(dir.path, { yaml: YAML });
  const register = async (body: Record<string, unknown>) => {
    const r = await api.call(api.tokens.admin, "POST", "/api/tmux-agents", {
      socket: tmux.socket,
      ...body,
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  };
  await register({ name: "coder", target: "coder", role: "dev" });
  // A folder only comes with a revive command (where it runs); the session is up, so none runs.
  await register({ name: "builder", target: "builder", revive: "make watch", cwd: app });
  const admin = (method: string, path: string, body?: unknown) =>
    api.call(api.tokens.admin, method, path, body);

  const ops = await newTask(api, "Restart the db");
  assert.equal((await admin("POST", ops.at, { role: "ops" })).status, 201);
  const refused = await admin("POST", `${ops.at}/claim`, { from: "coder" });
  assert.equal(refused.status, 409, JSON.stringify(refused.json));
  assert.deepEqual(refused.json.error, {
    code: "ERR_TASK_CONFLICT",
    message: 'This task is for the role "ops", not "dev"',
  });
  assert.equal((await notesOf(api, ops)).task!.state, "open");

  const dev = await newTask(api, "Fix the build");
  const flagged = await admin("POST", dev.at, { role: "dev", from: "coder" });
  assert.equal(flagged.status, 201, JSON.stringify(flagged.json));
  assert.equal(flagged.json.flaggedBy, "coder");
  const claimed = await admin("POST", `${dev.at}/claim`, { from: "coder" });
  assert.equal(claimed.status, 200, JSON.stringify(claimed.json));
  assert.equal(claimed.json.claimedBy, "coder");
  // The claimant is coder, not the admin whose token it is.
  const notMine = await admin("POST", `${dev.at}/resolve`, { result: "done" });
  assert.equal(notMine.status, 409);
  assert.match(notMine.json.error.message, /Only "coder", who claimed the task, can resolve it/);
  const resolved = await admin("POST", `${dev.at}/resolve`, { result: "green", from: "coder" });
  assert.equal(resolved.status, 200, JSON.stringify(resolved.json));
  const replies = await admin("GET", `/api/messages/${dev.channel}/${dev.id}/replies`);
  assert.deepEqual(
    replies.json.replies.map((r: { from: string; body: string }) => [r.from, r.body.trim()]),
    [["coder", "Task completed: green"]],
  );
  const badge = await admin("POST", `/api/messages/${dev.channel}/${dev.id}/badges`, {
    type: "commit",
    value: "a1b2c3d",
    from: "coder",
  });
  assert.equal(badge.status, 201, JSON.stringify(badge.json));
  assert.equal(badge.json.by, "coder");

  // A tmux agent's folder is its cwd: a task for another folder is not for it, one above it is.
  const elsewhere = await newTask(api, "Clean /srv");
  await admin("POST", elsewhere.at, { cwd: "/srv" });
  const outside = await admin("POST", `${elsewhere.at}/claim`, { from: "builder" });
  assert.equal(outside.status, 409);
  assert.equal(outside.json.error.message, 'This task is for agents working in "/srv"');
  const here = await newTask(api, "Clean the workspace");
  await admin("POST", here.at, { cwd: dir.path });
  const inside = await admin("POST", `${here.at}/claim`, { from: "builder" });
  assert.equal(inside.status, 200, JSON.stringify(inside.json));
  assert.equal(inside.json.claimedBy, "builder");
});

Deno.test("task routes with an admin's from act as a live agent with its role, a user, or a model by its provider/model name; a name nobody has is a 400 and records nothing", async () => {
  await using dir = await tempDir();
  await using api = await engineWithApi(dir.path, { yaml: YAML });
  await api.engine.registerLive(
    { name: "reviewer", agent: "codex", role: "ops", wake: "pull" },
    "boss",
  );
  const admin = (method: string, path: string, body?: unknown) =>
    api.call(api.tokens.admin, method, path, body);

  const forDev = await newTask(api, "Fix the build");
  await admin("POST", forDev.at, { role: "dev" });
  const wrongRole = await admin("POST", `${forDev.at}/claim`, { from: "reviewer" });
  assert.equal(wrongRole.status, 409);
  assert.equal(wrongRole.json.error.message, 'This task is for the role "dev", not "ops"');
  // A user has no role: a person may claim any task.
  const byGuest = await admin("POST", `${forDev.at}/claim`, { from: "guest" });
  assert.equal(byGuest.status, 200, JSON.stringify(byGuest.json));
  assert.equal(byGuest.json.claimedBy, "guest");

  const forOps = await newTask(api, "Restart the db");
  await admin("POST", forOps.at, { role: "ops" });
  const byReviewer = await admin("POST", `${forOps.at}/claim`, { from: "reviewer" });
  assert.equal(byReviewer.json.claimedBy, "reviewer");

  const open = await newTask(api, "Summarise the thread");
  assert.equal((await admin("POST", open.at, {})).status, 201);
  const byModel = await admin("POST", `${open.at}/claim`, { from: "echo" });
  assert.equal(byModel.status, 200, JSON.stringify(byModel.json));
  assert.equal(byModel.json.claimedBy, "test/echo", "as the model's runs are named");

  const untouched = await newTask(api, "Nobody's");
  for (
    const [path, body] of [
      [untouched.at, { from: "nobody" }],
      [`${untouched.at}/claim`, { from: "nobody" }],
      [`/api/messages/${untouched.channel}/${untouched.id}/badges`, { type: "x", from: "nobody" }],
    ] as const
  ) {
    const r = await admin("POST", path, body);
    assert.equal(r.status, 400, path);
    assert.deepEqual(r.json.error, {
      code: "ERR_ADDRESS_INVALID",
      message: 'No tmux agent, live agent, user or model is called "nobody"',
    });
  }
  assert.deepEqual(await notesOf(api, untouched), { task: null, badges: [] });
});

Deno.test("task and badge routes refuse a from naming someone else from any token but an admin's with 403, as a send as someone else is, and record nothing; their own name and no body at all work as before", async () => {
  await using dir = await tempDir();
  await using api = await engineWithApi(dir.path);
  const task = await newTask(api, "Fix the build");
  const flagged = await newTask(api, "Rotate the keys");
  await api.call(api.tokens.admin, "POST", flagged.at, {});
  const badges = `/api/messages/${task.channel}/${task.id}/badges`;
  const tokens = [
    ["guest", api.tokens.user],
    ["mcp-one", api.tokens.live],
    ["test/echo", api.tokens.agent],
  ] as const;
  for (const [self, token] of tokens) {
    for (
      const [path, body] of [
        [task.at, { from: "boss" }],
        [`${flagged.at}/claim`, { from: "boss" }],
        [`${flagged.at}/resolve`, { result: "done", from: "boss" }],
        [badges, { type: "importance", value: "high", from: "boss" }],
      ] as const
    ) {
      const r = await api.call(token, "POST", path, body);
      assert.equal(r.status, 403, `${self} ${path}`);
      assert.deepEqual(r.json.error, {
        code: "ERR_FORBIDDEN",
        message: `This token acts as "${self}", not as "boss"`,
      });
    }
    // The same refusal as a send as someone else.
    const send = await api.call(token, "POST", "/api/messages", {
      to: "here",
      body: "hi",
      from: "boss",
    });
    assert.equal(send.status, 403);
    assert.equal(send.json.error.code, "ERR_FORBIDDEN");
  }
  assert.deepEqual(await notesOf(api, task), { task: null, badges: [] });
  const still = await notesOf(api, flagged);
  assert.equal(still.task!.state, "open");
  assert.equal(still.task!.claimedBy, undefined);

  // A from that is the token's own name is the token itself.
  const own = await api.call(api.tokens.user, "POST", `${flagged.at}/claim`, { from: "guest" });
  assert.equal(own.status, 200, JSON.stringify(own.json));
  assert.equal(own.json.claimedBy, "guest");
  // A claim without a body claims for the caller, as it always did; a body that is not JSON is
  // refused.
  const bare = await api.app.request(`${task.at}/claim`, {
    method: "POST",
    headers: { Authorization: `Bearer ${api.tokens.admin}` },
  });
  assert.equal(bare.status, 409, "not a task yet");
  await api.call(api.tokens.admin, "POST", task.at, {});
  const claimed = await api.app.request(`${task.at}/claim`, {
    method: "POST",
    headers: { Authorization: `Bearer ${api.tokens.live}` },
  });
  assert.equal(claimed.status, 200);
  assert.equal((await claimed.json()).claimedBy, "mcp-one");
  const garbage = await api.app.request(`${flagged.at}/claim`, {
    method: "POST",
    headers: { Authorization: `Bearer ${api.tokens.admin}`, "content-type": "application/json" },
    body: "from=boss",
  });
  assert.equal(garbage.status, 400);
  assert.equal((await garbage.json()).error.code, "ERR_BODY_INVALID");
});
