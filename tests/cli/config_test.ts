// `crosstalk config validate`, run as the real CLI on temp transports.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import { expectCode, initTransport, runCrosstalk, snapshot } from "./_cli.ts";

async function writeConfig(root: string, text: string): Promise<void> {
  await Deno.writeTextFile(join(root, "data/crosstalk.yaml"), text);
}

Deno.test("config validate accepts a fresh transport and prints what it loaded", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const before = await snapshot(home);

  const text = await expectCode(0, ["config", "validate", "--path", root], { home });
  assert.match(
    text.stdout,
    /^ok: data\/crosstalk.yaml \(transport: local, 1 providers, 1 models, 0 errors\)$/m,
  );
  assert.equal(text.stderr, "");

  const json = await expectCode(0, ["config", "validate", "--path", root, "--json"], { home });
  // The defaults are the ones the schema shipped in the transport declares.
  const schema = JSON.parse(await Deno.readTextFile(join(root, "data/crosstalk.schema.json")));
  const defaults = (def: { properties: Record<string, { default: unknown }> }) =>
    Object.fromEntries(Object.entries(def.properties).map(([k, v]) => [k, v.default]));
  const engine = defaults(schema.$defs.engine);
  assert.equal(engine.watch, "auto");
  assert.equal(engine.poll_interval_ms, 1000);
  assert.equal(engine.timeout_seconds, 600);
  assert.deepEqual(JSON.parse(json.stdout), {
    ok: true,
    transport: "local",
    engine,
    limits: { message_bytes: 1048576, output_bytes: 1048576 },
    providers: [{
      name: "builtin",
      env_file: null,
      models: [{ name: "echo", command: "crosstalk agent echo" }],
    }],
    problems: [],
  });
  assert.deepEqual(await snapshot(home), before, "validate writes nothing");
});

Deno.test("config validate rejects an unknown top-level key with its line and column", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  await writeConfig(
    root,
    "transport: local\nproviders:\n  builtin:\n    models:\n      echo: crosstalk agent echo\n" +
      "retries: 3\n",
  );
  for (const args of [[], ["--json"]]) {
    const result = await expectCode(78, ["config", "validate", "--path", root, ...args], { home });
    assert.match(
      result.stderr,
      /^error: Cannot load "data\/crosstalk.yaml" 6:1: retries is not a known key/m,
    );
    assert.match(result.stderr, /known: transport, engine, limits, providers/);
  }

  // Settings outside `providers` are fatal too, each with its position.
  await writeConfig(
    root,
    "transport: carrier-pigeon\nengine:\n  poll_interval_ms: 5\n  colour: blue\nproviders: {}\n",
  );
  const many = await expectCode(78, ["config", "validate", "--path", root], { home });
  assert.match(many.stderr, /3 problems/);
  assert.match(many.stderr, /"data\/crosstalk.yaml" 1:12: transport must be one of "git", "local"/);
  assert.match(
    many.stderr,
    /"data\/crosstalk.yaml" 3:21: engine.poll_interval_ms must be at least 50/,
  );
  assert.match(many.stderr, /"data\/crosstalk.yaml" 4:3: engine.colour is not a known key/);

  // YAML that does not parse names the place too.
  await writeConfig(root, "transport: local\nproviders:\n  builtin:\n    models: [unclosed\n");
  const broken = await expectCode(78, ["config", "validate", "--path", root], { home });
  assert.match(broken.stderr, /"data\/crosstalk.yaml" \d+:\d+/);

  await Deno.remove(join(root, "data/crosstalk.yaml"));
  const missing = await expectCode(78, ["config", "validate", "--path", root], { home });
  assert.match(missing.stderr, /has no config file/);
});

Deno.test("config validate skips a broken provider, reports where, and loads the others", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  await writeConfig(
    root,
    [
      "transport: local",
      "providers:",
      "  good:",
      "    models:",
      "      echo: crosstalk agent echo",
      "      cat: cat",
      "  broken:",
      "    models:",
      "      bad: 42",
      "",
    ].join("\n"),
  );

  const text = await expectCode(1, ["config", "validate", "--path", root], { home });
  assert.match(
    text.stderr,
    /^error: "data\/crosstalk.yaml" 9:12: providers.broken.models.bad must be a string \(provider "broken" skipped\)$/m,
  );
  assert.match(
    text.stdout,
    /^invalid: data\/crosstalk.yaml \(transport: local, 1 providers, 2 models, 1 errors\)$/m,
  );

  const json = await expectCode(1, ["config", "validate", "--path", root, "--json"], { home });
  const report = JSON.parse(json.stdout);
  assert.equal(report.ok, false);
  assert.deepEqual(report.providers.map((p: { name: string }) => p.name), ["good"]);
  assert.deepEqual(report.providers[0].models, [
    { name: "echo", command: "crosstalk agent echo" },
    { name: "cat", command: "cat" },
  ]);
  assert.deepEqual(report.problems, [{
    file: "data/crosstalk.yaml",
    line: 9,
    column: 12,
    path: "providers.broken.models.bad",
    message: "must be a string",
    severity: "error",
    provider: "broken",
  }]);

  // A send to the broken provider says why it is unknown; the good one still works.
  const send = await expectCode(65, [
    "message",
    "send",
    "--path",
    root,
    "--to",
    "broken/bad",
    "hi",
  ], { home });
  assert.match(send.stderr, /Unknown model "broken\/bad"/);
  assert.match(send.stderr, /provider "broken" was skipped/);
  await expectCode(0, ["message", "send", "--path", root, "--to", "good/cat", "hi"], { home });
});

Deno.test("config validate rejects a literal secret in env and asks for a ${VAR} reference", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const secret = "sk-live-0123456789abcdef";
  await writeConfig(
    root,
    [
      "transport: local",
      "providers:",
      "  leaky:",
      "    env:",
      `      API_KEY: ${secret}`,
      "    models:",
      "      leak: cat",
      "  careful:",
      "    env:",
      '      API_KEY: "${MY_API_KEY}"',
      "    models:",
      "      safe: cat",
      "",
    ].join("\n"),
  );

  const text = await expectCode(1, ["config", "validate", "--path", root], { home });
  assert.match(
    text.stderr,
    /"data\/crosstalk.yaml" 5:16: providers.leaky.env.API_KEY must be a "\$\{VAR\}" reference, so the yaml holds no secret \(provider "leaky" skipped\)/,
  );
  // An unset ${VAR} is only a warning.
  assert.match(
    text.stderr,
    /^warning: .*providers.careful.env.API_KEY refers to \$\{MY_API_KEY\}/m,
  );
  const json = await expectCode(1, ["config", "validate", "--path", root, "--json"], { home });
  assert.deepEqual(JSON.parse(json.stdout).providers.map((p: { name: string }) => p.name), [
    "careful",
  ]);
  for (const output of [text.stdout, text.stderr, json.stdout, json.stderr]) {
    assert.ok(!output.includes(secret), "the secret is never printed");
  }

  // Once the reference is set and the literal is gone, it is clean.
  await writeConfig(
    root,
    'transport: local\nproviders:\n  careful:\n    env:\n      API_KEY: "${MY_API_KEY}"\n' +
      "    models:\n      safe: cat\n",
  );
  const ok = await runCrosstalk(["config", "validate", "--path", root], {
    home,
    env: { MY_API_KEY: "from-the-environment" },
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, "");
});

Deno.test("config validate checks env_file: inside the transport, parseable, never echoed", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const secret = "sk-dotenv-secret-value";
  await Deno.writeTextFile(join(root, "auth/bad.env"), `API_KEY="${secret}\n`);
  await Deno.writeFile(join(root, "auth/latin1.env"), new Uint8Array([0x4b, 0x3d, 0xe9, 0x0a]));
  await writeConfig(
    root,
    [
      "transport: local",
      "providers:",
      "  outside:",
      "    env_file: ../../etc/passwd",
      "    models:",
      "      a: cat",
      "  unparsable:",
      "    env_file: auth/bad.env",
      "    models:",
      "      b: cat",
      "  latin1:",
      "    env_file: auth/latin1.env",
      "    models:",
      "      d: cat",
      "  absent:",
      "    env_file: auth/absent.env",
      "    models:",
      "      c: cat",
      "",
    ].join("\n"),
  );
  const json = await expectCode(1, ["config", "validate", "--path", root, "--json"], { home });
  const report = JSON.parse(json.stdout);
  assert.deepEqual(report.providers.map((p: { name: string }) => p.name), ["absent"]);
  const byProvider = (name: string) =>
    report.problems.filter((p: { provider: string }) => p.provider === name);
  assert.equal(byProvider("outside")[0].severity, "error");
  assert.match(byProvider("outside")[0].message, /inside the transport/);
  assert.equal(byProvider("unparsable")[0].severity, "error");
  assert.equal(byProvider("unparsable")[0].file, "auth/bad.env");
  assert.equal(byProvider("unparsable")[0].line, 1);
  assert.equal(byProvider("latin1")[0].severity, "error", "not UTF-8: that provider is skipped");
  assert.match(byProvider("latin1")[0].message, /not valid UTF-8/);
  assert.equal(byProvider("absent")[0].severity, "warning");
  assert.ok(!json.stdout.includes(secret) && !json.stderr.includes(secret));
});
