// A smoke test of the start-up benchmark: it runs and reports every figure. Speeds are not asserted.
import assert from "node:assert/strict";
import { benchStart, formatStart } from "../../scripts/bench_start.ts";

Deno.test("benchStart reports start-up times and idle RSS as positive finite numbers", async () => {
  const result = await benchStart(true);
  const figures = [
    result.emptyScriptMs.p50,
    result.emptyScriptMs.p95,
    result.serveToHealthyMs.p50,
    result.serveToHealthyMs.p95,
    result.restartToHealthyMs.p50,
    result.serverStartMs.p50,
    result.idleRssMiB.ready,
    result.idleRssMiB.idle,
    result.emptyScriptRssMiB,
  ];
  for (const value of figures) assert.ok(Number.isFinite(value) && value > 0, `${value}`);
  // An engine cannot be healthy before a bare Deno has started.
  assert.ok(result.serveToHealthyMs.p50 > result.emptyScriptMs.p50);
  assert.match(formatStart(result), /crosstalk serve, new state dir → healthy \/healthz/);
});
