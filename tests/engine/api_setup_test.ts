// First start of an engine's API: the admin, or the one-time setup token for it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { bootstrapUsers } from "../../engine/api_setup.ts";
import { AuthStore } from "../../engine/auth.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("bootstrapUsers writes a setup token while no user exists, and removes one left over once a user does", async () => {
  await using dir = await tempDir();
  const auth = await AuthStore.open(dir.path);
  const file = join(dir.path, "setup-token");
  const first = await bootstrapUsers(auth, dir.path, {});
  assert.equal(first.kind, "setup");
  assert.equal((await Deno.readTextFile(file)).trim(), first.kind === "setup" ? first.token : "");

  await auth.createUser("steve", "correct horse battery", true);
  assert.deepEqual(await bootstrapUsers(auth, dir.path, {}), { kind: "ready" });
  await assert.rejects(Deno.stat(file), Deno.errors.NotFound, "a used token's file would mislead");
});
