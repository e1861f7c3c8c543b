import assert from "node:assert/strict";
import {
  listRegistry,
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
