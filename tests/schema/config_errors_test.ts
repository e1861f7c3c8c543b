// Config errors name the file, the line and column, and the path inside the document.
import assert from "node:assert/strict";
import { type ConfigProblem, parseConfig } from "../../engine/config.ts";
import {
  CrosstalkError,
  formatProblem,
  InvalidDocumentError,
  type Problem,
} from "../../schema/errors.ts";
import { tempDir } from "../_helpers.ts";

const FILE = "data/crosstalk.yaml";

/** Parses `text` as a config that must be rejected; returns the error. */
async function rejected(text: string): Promise<InvalidDocumentError> {
  await using root = await tempDir();
  try {
    await parseConfig(text, root.path);
  } catch (error) {
    assert.ok(error instanceof InvalidDocumentError, `threw ${error}`);
    assert.ok(error instanceof CrosstalkError);
    assert.equal(error.code, "ERR_CONFIG_INVALID");
    return error;
  }
  assert.fail("parseConfig accepted an invalid config");
}

/** Parses `text` as a config that loads; returns the providers that loaded and the problems. */
async function loaded(text: string): Promise<{ providers: string[]; problems: ConfigProblem[] }> {
  await using root = await tempDir();
  const config = await parseConfig(text, root.path);
  return { providers: [...config.providers.keys()], problems: config.problems };
}

function problem(line: number, column: number, path: string, message: string): Problem {
  return { file: FILE, line, column, path, message };
}

Deno.test("parseConfig points an unknown top-level key at the key's line and column", async () => {
  const error = await rejected(`transport: git
providers:
  builtin:
    models:
      echo: crosstalk agent echo
  providerz: 1
enigne:
  watch: poll
`);
  assert.deepStrictEqual(error.problems, [
    problem(7, 1, "enigne", "is not a known key (known: transport, engine, limits, providers)"),
  ]);
  assert.equal(
    error.message,
    'Cannot load "data/crosstalk.yaml" 7:1: enigne is not a known key ' +
      "(known: transport, engine, limits, providers)",
  );
});

Deno.test("parseConfig skips a provider with an unknown key, reports it as an error and loads the others", async () => {
  const { providers, problems } = await loaded(`providers:
  good:
    models:
      m: echo hi
  bad:
    models:
      m: echo
    modles:
      n: echo
  also:
    models:
      n: cat
`);
  assert.deepStrictEqual(providers, ["good", "also"]);
  assert.deepStrictEqual(problems, [{
    ...problem(8, 5, "providers.bad.modles", "is not a known key (known: env_file, env, models)"),
    severity: "error",
    provider: "bad",
  }]);
});

Deno.test("parseConfig reports a model command that is a number at the value", async () => {
  const { providers, problems } = await loaded(`# Models of this transport.
# Each model is a command line, split on whitespace.
transport: local
engine:
  concurrency: 2
limits:
  message_bytes: 65536
providers:
  builtin:
    models:
      echo: crosstalk agent echo
  openrouter:
    models:
      qwen: 12
`);
  assert.deepStrictEqual(providers, ["builtin"]);
  assert.deepStrictEqual(problems, [{
    ...problem(14, 13, "providers.openrouter.models.qwen", "must be a string"),
    severity: "error",
    provider: "openrouter",
  }]);
  assert.equal(
    formatProblem(problems[0]!),
    '"data/crosstalk.yaml" 14:13: providers.openrouter.models.qwen must be a string',
  );
  // The one-problem form of every crosstalk error head, as `config validate` would throw it.
  assert.equal(
    new InvalidDocumentError("ERR_CONFIG_INVALID", `"${FILE}"`, problems).message,
    'Cannot load "data/crosstalk.yaml" 14:13: providers.openrouter.models.qwen must be a string',
  );
});

Deno.test("parseConfig says an env value must be a ${VAR} reference", async () => {
  const { providers, problems } = await loaded(`providers:
  openrouter:
    env:
      OPENROUTER_API_KEY: sk-or-v1-0123456789
    models:
      qwen: opencode run
`);
  assert.deepStrictEqual(providers, []);
  assert.deepStrictEqual(problems, [{
    ...problem(
      4,
      27,
      "providers.openrouter.env.OPENROUTER_API_KEY",
      'must be a "${VAR}" reference, so the yaml holds no secret',
    ),
    severity: "error",
    provider: "openrouter",
  }]);
});

Deno.test("parseConfig warns about a ${VAR} the engine's environment lacks and still loads the provider", async () => {
  await using root = await tempDir();
  const config = await parseConfig(
    `providers:
  openrouter:
    env:
      KEY: \${OPENROUTER_API_KEY}
    models:
      qwen: opencode run
`,
    root.path,
    { env: {} },
  );
  assert.deepStrictEqual([...config.providers.keys()], ["openrouter"]);
  assert.deepStrictEqual(config.problems, [{
    ...problem(
      4,
      12,
      "providers.openrouter.env.KEY",
      "refers to ${OPENROUTER_API_KEY}, which is not set in the engine's environment",
    ),
    severity: "warning",
    provider: "openrouter",
  }]);
});

Deno.test("parseConfig rejects an unknown transport kind and lists the allowed ones", async () => {
  const error = await rejected("# where the bus travels\ntransport: ftp\n");
  assert.deepStrictEqual(error.problems, [
    problem(2, 12, "transport", 'must be one of "git", "local"'),
  ]);
  assert.equal(
    error.message,
    'Cannot load "data/crosstalk.yaml" 2:12: transport must be one of "git", "local"',
  );
});

Deno.test("parseConfig names every problem outside providers in one error", async () => {
  const error = await rejected("engine:\n  concurrency: 0\n  watch: sometimes\n");
  const byLine = error.problems.toSorted((a, b) => a.line - b.line);
  assert.deepStrictEqual(byLine, [
    problem(2, 16, "engine.concurrency", "must be at least 1"),
    problem(3, 10, "engine.watch", 'must be one of "auto", "events", "poll"'),
  ]);
  const lines = error.message.split("\n");
  assert.equal(lines[0], 'Cannot load "data/crosstalk.yaml": 2 problems');
  assert.deepStrictEqual(lines.slice(1).toSorted(), [
    '  "data/crosstalk.yaml" 2:16: engine.concurrency must be at least 1',
    '  "data/crosstalk.yaml" 3:10: engine.watch must be one of "auto", "events", "poll"',
  ]);
});

Deno.test("parseConfig turns a YAML syntax error into an InvalidDocumentError with line and column", async () => {
  const error = await rejected("transport: git\nengine: watch: poll\n");
  assert.deepStrictEqual(error.problems, [
    problem(2, 9, "engine.watch", "Nested mappings are not allowed in compact mappings"),
  ]);
  assert.equal(
    error.message,
    'Cannot load "data/crosstalk.yaml" 2:9: engine.watch: Nested mappings are not allowed in compact mappings',
  );

  const tab = await rejected("transport: git\nengine:\n\twatch: poll\n");
  assert.deepStrictEqual(tab.problems, [
    problem(3, 1, "", "Tabs are not allowed as indentation"),
  ]);

  const unclosed = await rejected("transport: git\nproviders:\n  x:\n    models: {m: 'echo}\n");
  assert.ok(unclosed.problems.length >= 1);
  for (const p of unclosed.problems) {
    assert.equal(p.file, FILE);
    assert.ok(p.line >= 4 && p.column >= 1, `${p.line}:${p.column}`);
  }
  assert.match(unclosed.message, /Missing closing 'quote/);
});

Deno.test("parseConfig rejects a duplicate key at the second occurrence", async () => {
  const top = await rejected("transport: git\nlimits: {}\ntransport: local\n");
  assert.equal(top.problems.length, 1);
  assert.equal(top.problems[0]?.line, 3);
  assert.equal(top.problems[0]?.column, 1);
  assert.match(top.problems[0]!.message, /unique/i);

  const nested = await rejected("providers:\n  x:\n    models:\n      y: a\n      y: b\n");
  assert.equal(nested.problems.length, 1);
  assert.equal(nested.problems[0]?.line, 5);
  assert.equal(nested.problems[0]?.column, 7);
});

Deno.test("parseConfig names the path of a duplicate key", async () => {
  const top = await rejected("transport: git\nlimits: {}\ntransport: local\n");
  assert.equal(top.problems[0]?.path, "transport");
  const nested = await rejected("providers:\n  x:\n    models:\n      y: a\n      y: b\n");
  assert.equal(nested.problems[0]?.path, "providers.x.models.y");
  assert.match(
    nested.message,
    /^Cannot load "data\/crosstalk\.yaml" 5:7: providers\.x\.models\.y: /,
  );
});

Deno.test("parseConfig reports an env_file outside the transport as an error of that provider", async () => {
  const { providers, problems } = await loaded(`providers:
  a:
    env_file: ../secrets.env
    models:
      m: echo
  b:
    models:
      m: echo
`);
  assert.deepStrictEqual(providers, ["b"]);
  assert.deepStrictEqual(problems, [{
    ...problem(
      3,
      15,
      "providers.a.env_file",
      'must be a path inside the transport, not "../secrets.env"',
    ),
    severity: "error",
    provider: "a",
  }]);
});
