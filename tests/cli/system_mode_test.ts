// Commands run as the `crosstalk` service user work on the machine's system transports.
import assert from "node:assert/strict";
import { runCrosstalk, tempDir } from "../_helpers.ts";

Deno.test("as the crosstalk user, --containername names a system transport under /var/lib/crosstalk", async () => {
  await using dir = await tempDir();
  const name = `absent-${crypto.randomUUID().slice(0, 8)}`;
  const asService = await runCrosstalk(["config", "validate", "--containername", name], {
    home: dir.path,
    env: { USER: "crosstalk" },
  });
  assert.equal(asService.code, 66);
  assert.match(asService.stderr, new RegExp(`"/var/lib/crosstalk/${name}/transport"`));

  const userMode = await runCrosstalk(["config", "validate", "--containername", name], {
    home: dir.path,
    env: { USER: "crosstalk", CROSSTALK_USER_MODE: "1" },
  });
  assert.equal(userMode.code, 66);
  assert.match(
    userMode.stderr,
    new RegExp(`${dir.path}/\\.local/share/crosstalk/${name}/transport`),
  );

  const someone = await runCrosstalk(["config", "validate", "--containername", name], {
    home: dir.path,
  });
  assert.doesNotMatch(someone.stderr, /\/var\/lib\/crosstalk/, "anyone else: user mode");
});
