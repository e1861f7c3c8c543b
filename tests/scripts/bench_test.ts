// A smoke test of the benchmark script: it runs and reports every figure. Speeds are not asserted.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { tempDir } from "../_helpers.ts";

const BENCH = fileURLToPath(new URL("../../scripts/bench.ts", import.meta.url));

/** Every figure `--json` must report, as a path under `results`. */
const FIGURES = [
  "write.messages",
  "write.syncMessages",
  "write.runs",
  "write.transportFsync.msgsPerSec",
  "write.transportFsync.msPerMsg",
  "write.baselineFsync.msgsPerSec",
  "write.baselineFsync.msPerMsg",
  "write.transportNoSync.msgsPerSec",
  "write.transportNoSync.msPerMsg",
  "write.baselineNoSync.msgsPerSec",
  "write.baselineNoSync.msPerMsg",
  "write.ratioFsync",
  "write.ratioNoSync",
  "write.floorRatioFsync",
  "write.floorRatioNoSync",
  "list.messages",
  "list.runs",
  "list.pageRuns",
  "list.pageSize",
  "list.baselineReadDirMs",
  "list.baselineReadAllMs",
  "list.listMessageIdsMs",
  "list.listMessagesAllMs",
  "list.listMessagesPageMs",
  "list.ratioListMessageIds",
  "list.ratioListMessagesAll",
  "list.ratioListMessagesPage",
  "list.ratioListMessagesAllToReadAll",
  "list.searchAllMs",
  "list.ratioSearchToReadAll",
  "watch.events",
  ...["baselineWatchFs", "busWatcher", "messageFeed"].flatMap((name) =>
    ["p50", "p95", "p99"].map((p) => `watch.${name}.${p}`)
  ),
  "watch.ratioBusWatcherP50",
  "watch.ratioMessageFeedP50",
  "watch.floorRatioBusWatcherP50",
];

Deno.test("bench --quick --json reports every figure as a positive finite number", async () => {
  // Its scratch folders go under TMPDIR, here a folder of the test's own (else ~/.cache).
  await using dir = await tempDir();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BENCH, "--quick", "--json"],
    env: { TMPDIR: dir.path },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const report = JSON.parse(new TextDecoder().decode(output.stdout));

  assert.ok(!Number.isNaN(Date.parse(report.date)), `date: ${report.date}`);
  assert.equal(report.quick, true);
  assert.equal(typeof report.deno?.deno, "string");
  assert.equal(typeof report.deno?.v8, "string");
  assert.equal(typeof report.deno?.typescript, "string");
  assertPositive(report.machine?.cpus, "machine.cpus");
  assertPositive(report.machine?.memoryBytes, "machine.memoryBytes");

  for (const path of FIGURES) {
    const value = path.split(".").reduce((node, key) => node?.[key], report.results);
    assertPositive(value, `results.${path}`);
  }
  // Nothing unlisted sneaks in without being checked.
  assert.deepEqual(numberPaths(report.results).sort(), [...FIGURES].sort());
  assertPositive(report.fileCreateMicros, "fileCreateMicros");
  // The engine's figures (scripts/bench_engine.ts).
  for (const path of numberPaths(report.engine)) {
    const value = path.split(".").reduce((node, key) => node?.[key], report.engine);
    assertPositive(value, `engine.${path}`);
  }
  assert.deepEqual(report.engine.throughput.map((t: { engines: number }) => t.engines), [1, 3]);
  for (const path of numberPaths(report.api)) {
    const value = path.split(".").reduce((node, key) => node?.[key], report.api);
    assertPositive(value, `api.${path}`);
  }
  for (const path of numberPaths(report.live)) {
    const value = path.split(".").reduce((node, key) => node?.[key], report.live);
    assertPositive(value, `live.${path}`);
  }
  if (Deno.build.os === "linux") {
    assertPositive(report.live.enginePeakRssMiB, "live.enginePeakRssMiB");
  }
  for (const path of numberPaths(report.git)) {
    const value = path.split(".").reduce((node, key) => node?.[key], report.git);
    assertPositive(value, `git.${path}`);
  }
});

function assertPositive(value: unknown, label: string): void {
  assert.ok(
    typeof value === "number" && Number.isFinite(value) && value > 0,
    `${label} must be a positive finite number, got ${JSON.stringify(value)}`,
  );
}

// deno-lint-ignore no-explicit-any
function numberPaths(node: any, prefix = ""): string[] {
  if (node === null || typeof node !== "object") return [prefix.slice(1)];
  return Object.entries(node).flatMap(([key, value]) => numberPaths(value, `${prefix}.${key}`));
}
