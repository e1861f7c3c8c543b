// crosstalk's V8 flags (engine/which.ts): what they do, and that every way of starting crosstalk
// passes them. The engine started by `server start` is checked in tests/cli/server_test.ts.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { selfCommand, V8_FLAGS } from "../../engine/which.ts";
import { engineProgram } from "../../engine/service.ts";
import { compileArgs } from "../../scripts/compile.ts";

const GARBAGE = fileURLToPath(new URL("../testdata/v8/garbage.ts", import.meta.url));

/** How many scavenges (young generation collections) V8 made while running `garbage.ts`. */
async function scavenges(flags: string[]): Promise<number> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, GARBAGE],
    env: { DENO_V8_FLAGS: "--trace-gc" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return text.split("\n").filter((line) => line.includes(": Scavenge ")).length;
}

Deno.test("with crosstalk's V8 flags, 16 MB of short-lived objects fit the young generation without the dozens of scavenges V8's default start size makes", async () => {
  const ours = await scavenges([V8_FLAGS]);
  const defaults = await scavenges([]);
  assert.ok(ours <= 2, `${ours} scavenges with ${V8_FLAGS}`);
  assert.ok(defaults >= 8, `${defaults} scavenges with V8's defaults`);
});

Deno.test("deno task serve, the compiled binary, selfCommand from source and the service's command line all carry crosstalk's V8 flags", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)))
    .tasks as Record<string, string>;
  assert.ok(tasks.serve!.split(" ").includes(V8_FLAGS), tasks.serve);
  assert.ok(compileArgs("x86_64-unknown-linux-gnu", "dist/x").includes(V8_FLAGS));
  // The test runs from source, as `deno run` does.
  const self = selfCommand();
  assert.deepEqual(self.slice(0, 5), [Deno.execPath(), "run", "-A", V8_FLAGS, "--quiet"]);
  const program = engineProgram({
    execPath: "/usr/bin/deno",
    mainModule: "file:///opt/crosstalk/main.ts",
    standalone: false,
  });
  assert.deepEqual(program.args, ["run", "-A", V8_FLAGS, "/opt/crosstalk/main.ts"]);
  // A compiled binary has them built in: its command line is the binary alone.
  assert.deepEqual(
    engineProgram({ execPath: "/usr/bin/crosstalk", mainModule: "file:///x", standalone: true })
      .args,
    [],
  );
});
