import assert from "node:assert/strict";
import { parseConfig } from "../../engine/config.ts";
import { isExcluded, resolveAddress, resolveModelRef } from "../../engine/models.ts";
import { CrosstalkError } from "../../schema/errors.ts";

const YAML = `transport: local
providers:
  anthropic:
    models:
      sonnet: claude --print --model sonnet
      opus: claude --print --model opus
  work:
    models:
      sonnet: claude --print --model sonnet
  builtin:
    models:
      echo: crosstalk agent echo
`;

const config = await parseConfig(YAML, "/nonexistent");

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof CrosstalkError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return undefined;
}

Deno.test("resolveModelRef resolves bare, provider-qualified and alias-pinned references", () => {
  const echo = resolveModelRef("echo", config);
  assert.equal(
    echo.kind === "model" && `${echo.model.provider}/${echo.model.name}`,
    "builtin/echo",
  );
  const pinned = resolveModelRef("anthropic/sonnet@laptop", config);
  assert.equal(pinned.kind, "model");
  assert.equal(pinned.alias, "laptop");
  assert.deepEqual(pinned.kind === "model" && pinned.model.argv, [
    "claude",
    "--print",
    "--model",
    "sonnet",
  ]);
  assert.deepEqual(resolveModelRef("all", config), { kind: "all" });
  assert.deepEqual(resolveModelRef("all@b", config), { kind: "all", alias: "b" });
});

Deno.test("resolveModelRef lists the candidates of an ambiguous bare name", () => {
  const result = code(() => resolveModelRef("sonnet", config));
  assert.equal(
    result,
    'ERR_AMBIGUOUS_MODEL: Model "sonnet" is ambiguous: anthropic/sonnet, work/sonnet (name the provider)',
  );
});

Deno.test("resolveModelRef says an unknown model is unknown and lists the known ones", () => {
  assert.match(
    code(() => resolveModelRef("gpt", config))!,
    /^ERR_UNKNOWN_MODEL: Unknown model "gpt" \(known: anthropic\/sonnet, anthropic\/opus, work\/sonnet, builtin\/echo\)$/,
  );
  assert.match(code(() => resolveModelRef("anthropic/haiku", config))!, /^ERR_UNKNOWN_MODEL/);
  assert.match(code(() => resolveModelRef("nope/sonnet@x", config))!, /^ERR_UNKNOWN_MODEL/);
});

Deno.test("resolveAddress treats unknown bare names as people or live agents", () => {
  assert.deepEqual(resolveAddress("steve", config), { kind: "participant", name: "steve" });
  assert.deepEqual(resolveAddress("workflow", config), { kind: "workflow" });
  assert.match(code(() => resolveAddress("a/b/c", config))!, /^ERR_ADDRESS_INVALID/);
  assert.match(code(() => resolveAddress("../x", config))!, /^ERR_ADDRESS_INVALID/);
});

Deno.test("isExcluded matches a name, a model by name or provider/name, and an @alias only on that machine", () => {
  const model = { provider: "test", name: "echo" };
  assert.equal(isExcluded(["echo"], model, "laptop"), true);
  assert.equal(isExcluded(["test/echo"], model, "laptop"), true);
  assert.equal(isExcluded(["other/echo"], model, "laptop"), false);
  assert.equal(isExcluded(["echo@laptop"], model, "laptop"), true);
  assert.equal(isExcluded(["echo@server"], model, "laptop"), false);
  assert.equal(isExcluded(["bob"], { name: "bob" }, "laptop"), true);
  assert.equal(isExcluded(["bob@server"], { name: "bob" }, "laptop"), false);
  assert.equal(isExcluded(["x/bob"], { name: "bob" }, "laptop"), false, "an agent has no provider");
  assert.equal(isExcluded(["bobby", "b"], { name: "bob" }, "laptop"), false);
  assert.equal(isExcluded(undefined, { name: "bob" }, "laptop"), false);
  assert.equal(isExcluded(["not an address"], { name: "bob" }, "laptop"), false);
});
