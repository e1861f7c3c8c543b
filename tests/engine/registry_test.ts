import assert from "node:assert/strict";
import {
  listRegistry,
  readRegistry,
  registryPath,
  removeRegistry,
  writeRegistry,
} from "../../engine/registry.ts";
import { tempDir } from "../_helpers.ts";

const entry = (alias: string, pid: number) => ({
  alias,
  models: ["builtin/echo"],
  version: "0.1.0",
  host: Deno.hostname(),
  pid,
  started: new Date().toISOString(),
  heartbeat_seconds: 10,
});

Deno.test("listRegistry marks an entry stale when its engine is gone or its heartbeat is old", async () => {
  await using dir = await tempDir();
  await writeRegistry(dir.path, entry("alive", Deno.pid));
  // A process that has exited: its pid is free on this host.
  const child = new Deno.Command("true").spawn();
  await child.status;
  await writeRegistry(dir.path, entry("crashed", child.pid));
  await writeRegistry(dir.path, { ...entry("silent", Deno.pid), host: "another-host" });
  const old = new Date(Date.now() - 31_000);
  await Deno.utime(registryPath(dir.path, "silent"), old, old);

  const listed = await listRegistry(dir.path);
  assert.deepEqual(listed.map((d) => [d.alias, d.stale]), [["alive", false], ["crashed", true], [
    "silent",
    true,
  ]]);
  assert.deepEqual(listed[0]!.models, ["builtin/echo"]);

  await removeRegistry(dir.path, "alive");
  assert.deepEqual((await listRegistry(dir.path)).map((d) => d.alias), ["crashed", "silent"]);
});

Deno.test("readRegistry gives each caller its own copy of an unchanged entry, and reads a changed one anew", async () => {
  await using dir = await tempDir();
  await writeRegistry(dir.path, {
    ...entry("a", Deno.pid),
    live: [{ name: "alice", status: "available" }],
  });
  const first = await readRegistry(dir.path, "a");
  (first!.live![0] as { status: string }).status = "changed by a caller";
  first!.models!.push("x/y");
  const second = await readRegistry(dir.path, "a");
  assert.deepEqual(second!.live, [{ name: "alice", status: "available" }]);
  assert.deepEqual(second!.models, ["builtin/echo"]);

  await writeRegistry(dir.path, {
    ...entry("a", Deno.pid),
    live: [{ name: "alice", status: "busy" }],
  });
  assert.deepEqual((await readRegistry(dir.path, "a"))!.live, [{ name: "alice", status: "busy" }]);
  const [listed] = await listRegistry(dir.path);
  assert.deepEqual(listed!.live, [{ name: "alice", status: "busy" }]);
});
