import assert from "node:assert/strict";
import { type Approval, ApprovalStore } from "../../engine/approvals.ts";
import { hookOutput, parseHookInput } from "../../engine/approval_hook.ts";
import { installApprovalHook, uninstallApprovalHook } from "../../engine/agent_install.ts";

const ASK = { agent: "claude", tool: "Bash", input: { command: "rm -rf build" }, by: "boss" };

Deno.test("ApprovalStore: a request waits for one decision; the same decision again is a no-op, another is refused", async () => {
  const seen: string[] = [];
  const store = new ApprovalStore({ onChange: (a) => seen.push(a.state) });
  const asked = store.request({ ...ASK, cwd: "/work" });
  assert.equal(asked.state, "pending");
  assert.deepEqual(store.list().map((a) => a.id), [asked.id]);
  const waiting = store.wait(asked.id, 10_000);
  store.decide(asked.id, { allow: false, by: "ann", reason: "not today" });
  const decided = await waiting;
  assert.equal(decided.state, "denied");
  assert.equal(decided.decidedBy, "ann");
  assert.equal(decided.reason, "not today");
  assert.equal(store.decide(asked.id, { allow: false, by: "bob" }).decidedBy, "ann");
  assert.throws(() => store.decide(asked.id, { allow: true, by: "bob" }), /is denied by ann/);
  assert.deepEqual(store.list(), [], "nothing pending");
  assert.equal(store.list("all").length, 1);
  assert.deepEqual(seen, ["pending", "denied"]);
  assert.throws(() => store.get("00000000-0000-4000-8000-000000000000"), /No approval/);
  assert.throws(
    () => store.request({ ...ASK, input: "x".repeat(20_000) }),
    /tool input is over/,
  );
});

Deno.test("ApprovalStore: a request nobody decides expires, and its waiter hears so", async () => {
  const store = new ApprovalStore({ ttlMs: 0 });
  const asked = store.request(ASK);
  const after = await store.wait(asked.id, 10_000);
  assert.equal(after.state, "expired");
  assert.throws(() => store.decide(asked.id, { allow: true, by: "ann" }), /is expired/);
});

Deno.test("ApprovalStore: a request expires when its asker stops waiting, before the store's ttl", async () => {
  const seen: string[] = [];
  const store = new ApprovalStore({ onChange: (a) => seen.push(a.state) });
  const asked = store.request({ ...ASK, waitSeconds: 1 });
  assert.equal(Date.parse(asked.expires) - Date.parse(asked.at), 1000);
  assert.equal("waitSeconds" in asked, false, "the asker's wait is not echoed");
  const lasting = store.request(ASK);
  assert.equal(Date.parse(lasting.expires) - Date.parse(lasting.at), 10 * 60_000);
  const after = await store.wait(asked.id, 10_000);
  assert.equal(after.state, "expired");
  assert.deepEqual(seen, ["pending", "pending", "expired"]);
  assert.deepEqual(store.list().map((a) => a.id), [lasting.id]);
  assert.throws(() => store.decide(asked.id, { allow: true, by: "ann" }), /is expired/);
});

Deno.test("the approval hook answers Claude Code with allow or deny, and nothing while undecided", () => {
  const base: Approval = {
    ...ASK,
    id: "x",
    state: "pending",
    at: new Date().toISOString(),
    expires: "",
  };
  assert.equal(hookOutput(base), undefined);
  assert.equal(hookOutput({ ...base, state: "expired" }), undefined);
  assert.deepEqual(JSON.parse(hookOutput({ ...base, state: "allowed", decidedBy: "ann" })!), {
    hookSpecificOutput: {
      hookEventName: "PreToolUse",
      permissionDecision: "allow",
      permissionDecisionReason: "Allowed by ann on the crosstalk bus",
    },
  });
  const denied = JSON.parse(
    hookOutput({ ...base, state: "denied", decidedBy: "ann", reason: "use make clean" })!,
  );
  assert.equal(denied.hookSpecificOutput.permissionDecision, "deny");
  assert.equal(
    denied.hookSpecificOutput.permissionDecisionReason,
    "Denied by ann on the crosstalk bus: use make clean",
  );
  assert.deepEqual(parseHookInput('{"tool_name":"Bash","tool_input":{"command":"ls"}}'), {
    tool_name: "Bash",
    tool_input: { command: "ls" },
  });
  assert.throws(() => parseHookInput("{}"), /no tool_name/);
  assert.throws(() => parseHookInput("nope"), /not JSON/);
});

Deno.test("installApprovalHook adds crosstalk's hook once, keeping every other setting and hook; uninstallApprovalHook takes only it out", () => {
  const theirs = {
    model: "opus",
    hooks: {
      PreToolUse: [{ matcher: "Bash", hooks: [{ type: "command", command: "lint-guard" }] }],
      Stop: [{ hooks: [{ type: "command", command: "notify" }] }],
    },
  };
  const file = "/p/.claude/settings.json";
  const options = { command: "/bin/crosstalk approval hook --wait 120", timeoutSeconds: 150 };
  const text = JSON.stringify(theirs);
  const once = installApprovalHook(text, options, file);
  assert.equal(once.action, "add");
  const twice = installApprovalHook(once.text, { ...options, matcher: "Bash" }, file);
  assert.equal(twice.action, "replace");
  const settings = JSON.parse(twice.text!);
  assert.equal(settings.model, "opus");
  assert.deepEqual(settings.hooks.Stop, theirs.hooks.Stop);
  assert.deepEqual(settings.hooks.PreToolUse, [
    theirs.hooks.PreToolUse[0],
    {
      matcher: "Bash",
      hooks: [{ type: "command", command: options.command, timeout: 150 }],
    },
  ]);
  assert.deepEqual(installApprovalHook(twice.text, { ...options, matcher: "Bash" }, file), {
    action: "unchanged",
    text: twice.text,
  });
  // Out again: the text as it was, byte for byte.
  assert.deepEqual(uninstallApprovalHook(twice.text, file), { action: "remove", text });
  assert.deepEqual(uninstallApprovalHook(text, file), { action: "absent", text }, "none of ours");
  assert.deepEqual(uninstallApprovalHook(undefined, file), { action: "absent", text: undefined });
  const made = installApprovalHook(undefined, options, file);
  assert.equal(made.action, "create");
  assert.equal(uninstallApprovalHook(made.text, file).text, "{}\n");
  assert.throws(
    () => installApprovalHook("[1]", options, file),
    /1:1: the file is not a JSON object/,
  );
  assert.throws(() => installApprovalHook("{", options, file), /settings\.json" 1:2: /);
  assert.throws(
    () => installApprovalHook('{"hooks": []}', options, file),
    /"hooks" is not an object/,
  );
});

Deno.test("uninstallApprovalHook takes crosstalk's hook out of a group it shares, and the groups, PreToolUse and hooks it leaves empty", () => {
  const file = "/p/.claude/settings.json";
  const ours = { type: "command", command: "/bin/crosstalk approval hook --wait 5", timeout: 35 };
  const lint = { type: "command", command: "lint-guard" };
  const shared = `{
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          ${JSON.stringify(ours)},
          ${JSON.stringify(lint)}
        ]
      },
      { "matcher": "Edit", "hooks": [${JSON.stringify(ours)}] }
    ]
  }
}
`;
  assert.equal(
    uninstallApprovalHook(shared, file).text,
    `{
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          ${JSON.stringify(lint)}
        ]
      }
    ]
  }
}
`,
  );
  const alone = `{"env": {"A": "1"}, "hooks": {"PreToolUse": [{"hooks": [${
    JSON.stringify(ours)
  }]}]}}`;
  assert.equal(uninstallApprovalHook(alone, file).text, '{"env": {"A": "1"}}');
  const beside = `{"hooks": {"Stop": [], "PreToolUse": [{"hooks": [${JSON.stringify(ours)}]}]}}`;
  assert.equal(uninstallApprovalHook(beside, file).text, '{"hooks": {"Stop": []}}');
});
