// What `crosstalk serve` says when it cannot start: each problem named, with what to do, and a
// distinct exit code; nothing is left half started.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";

async function localBus(home: string): Promise<string> {
  const bus = join(home, "bus");
  const init = await runCrosstalk(["transport", "init", "--transport", "local", "--path", bus], {
    home,
  });
  assert.equal(init.code, 0, init.stderr);
  return bus;
}

Deno.test("serve on a port that is taken says so and names the process that holds it", async () => {
  await using dir = await tempDir();
  const bus = await localBus(dir.path);
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const out = await runCrosstalk(["serve", "--path", bus, "--port", String(port)], {
    home: dir.path,
  });
  assert.equal(out.code, 75);
  assert.match(
    out.stderr,
    new RegExp(`127\\.0\\.0\\.1:${port}: the port is in use by pid ${Deno.pid} `),
  );
  assert.match(out.stderr, /choose another with --port/);
});

Deno.test("serve with a state dir that cannot be written says which and what to do", async () => {
  await using dir = await tempDir();
  const bus = await localBus(dir.path);
  const file = join(dir.path, "a-file");
  await Deno.writeTextFile(file, "not a folder");
  const out = await runCrosstalk(["serve", "--path", bus, "--state", join(file, "state")], {
    home: dir.path,
  });
  assert.equal(out.code, 73);
  assert.match(out.stderr, /The state dir ".*a-file\/state" cannot be written/);
  assert.match(out.stderr, /--state DIR or CROSSTALK_STATE_DIR/);
});

Deno.test("serve on a folder that is no transport, and with a broken yaml, says what and where", async () => {
  await using dir = await tempDir();
  const missing = await runCrosstalk(["serve", "--path", join(dir.path, "nowhere")], {
    home: dir.path,
  });
  assert.equal(missing.code, 66);
  assert.match(missing.stderr, /nowhere/);
  const bus = await localBus(dir.path);
  await Deno.writeTextFile(
    join(bus, "data", "crosstalk.yaml"),
    "transport: local\nengine:\n  concurrency: lots\n",
  );
  const broken = await runCrosstalk(["serve", "--path", bus], { home: dir.path });
  assert.equal(broken.code, 78);
  assert.match(
    broken.stderr,
    /"data\/crosstalk\.yaml" 3:\d+: engine\.concurrency must be an integer/,
  );
});

Deno.test("a git transport without git installed says to install git or use a local transport", async () => {
  await using dir = await tempDir();
  const empty = join(dir.path, "empty-path");
  await Deno.mkdir(empty);
  const out = await runCrosstalk(["transport", "init", "--path", join(dir.path, "bus")], {
    home: dir.path,
    env: { PATH: empty },
  });
  assert.equal(out.code, 75);
  assert.match(out.stderr, /Cannot run git: it is not installed or not on PATH/);
});
