import assert from "node:assert/strict";
import { agentChanges, formatEvent } from "../../cli/watch.ts";
import type { LiveAgentInfo } from "../../engine/live.ts";

Deno.test("formatEvent gives each workflow event one line: started, planned, phase, complete, failed", () => {
  const trace = "0b7c5a52/2026/12/06/231333091Z-fefd3a7f.md";
  const at = "2026-12-06T23:13:33.091Z";
  const line = (data: Record<string, unknown>) =>
    formatEvent({ type: "workflow", data: { trace, at, ...data } });
  const prefix = "23:13:33    workflow [0b7c5a52/231333091Z-fefd3a7f]";
  assert.equal(
    line({ event: "workflow.started", child: "9d1e3a40-0000-8000-8000-000000000000" }),
    `${prefix} started in channel 9d1e3a40`,
  );
  assert.equal(
    line({ event: "workflow.planned", runs: 3, synthesize: "opus" }),
    `${prefix} planned: 3 runs, synthesis by opus`,
  );
  assert.equal(
    line({ event: "workflow.planned", runs: 2, synthesize: null }),
    `${prefix} planned: 2 runs`,
  );
  assert.equal(line({ event: "workflow.phase", phase: "fanout" }), `${prefix} phase fanout`);
  assert.equal(line({ event: "workflow.complete" }), `${prefix} complete`);
  assert.equal(
    line({ event: "workflow.failed", error: "Every fan-out run failed:\n fanout-1" }),
    `${prefix} failed: Every fan-out run failed: fanout-1`,
  );
});

Deno.test("formatEvent shows an approval asked for, with how to allow it, and its decision", () => {
  const data = {
    at: "2026-12-06T23:13:33.091Z",
    id: "0b7c5a52-3f1e-4c55-9a86-1d2e3f405162",
    agent: "claude",
    tool: "Bash",
    input: { command: "rm -rf build" },
  };
  assert.equal(
    formatEvent({ type: "approval", data: { ...data, state: "pending" } }),
    '23:13:33  claude asks to use Bash {"command":"rm -rf build"} (crosstalk approval allow 0b7c5a52)',
  );
  assert.equal(
    formatEvent({ type: "approval", data: { ...data, state: "denied", decidedBy: "ann" } }),
    "23:13:33    claude's Bash: denied by ann",
  );
});

Deno.test("agentChanges gives a line for an agent that came, changed status, and changed role or model, none when nothing changed", () => {
  const agent: LiveAgentInfo = {
    name: "alice",
    agent: "claude",
    role: "builder",
    machine: "a",
    host: "h",
    wake: "pull",
    status: "available",
    owner: "boss",
    online: true,
    since: "2026-12-06T23:13:33.091Z",
    seen: "2026-12-06T23:13:33.091Z",
  };
  const known = new Map<string, LiveAgentInfo>();
  assert.deepEqual(agentChanges(known, [agent]), [
    "23:13:33  ● alice online (claude on a, available)",
  ]);
  assert.deepEqual(agentChanges(known, [agent]), []);
  assert.deepEqual(agentChanges(known, [{ ...agent, role: "reviewer", model: "opus" }]), [
    "23:13:33  ● alice: role reviewer, model opus",
  ]);
  const { role: _role, ...none } = agent;
  assert.deepEqual(agentChanges(known, [{ ...none, status: "busy" }]), [
    "23:13:33  ● alice is busy",
    "23:13:33  ● alice: role none, model none",
  ]);
});
