import assert from "node:assert/strict";
import { parseConfig } from "../../engine/config.ts";
import { TEMPLATE_FILES } from "../../transports/_template.ts";
import { templateFiles } from "../../transports/mod.ts";
import { renderTemplateModule } from "../../scripts/embed_template.ts";

Deno.test("the embedded template matches transports/template/ (run deno task gen)", async () => {
  const fresh = await renderTemplateModule();
  const current = await Deno.readTextFile(
    new URL("../../transports/_template.ts", import.meta.url),
  );
  assert.equal(current, fresh);
});

Deno.test("the template config is valid for both transport kinds and has a no-install model", async () => {
  for (const kind of ["git", "local"] as const) {
    const yaml = templateFiles(kind)["data/crosstalk.yaml"]!;
    assert.match(yaml, /^# yaml-language-server: \$schema=\.\/crosstalk\.schema\.json$/m);
    const config = await parseConfig(yaml, "/nonexistent");
    assert.equal(config.transport, kind);
    assert.deepEqual(config.problems, []);
    assert.deepEqual(config.providers.get("builtin")?.models.get("echo")?.argv, [
      "crosstalk",
      "agent",
      "echo",
    ]);
  }
});

Deno.test("every commented provider in the template is valid once uncommented", async () => {
  const yaml = TEMPLATE_FILES["data/crosstalk.yaml"]!;
  const uncommented = yaml.split("\n").filter((line) => !line.includes("yaml-language-server")).map(
    (line) => line.replace(/^(\s*)# ?(?=\s*[A-Za-z_-]+:( |$))/, "$1"),
  ).join("\n");
  const config = await parseConfig(uncommented, "/nonexistent");
  for (const name of ["anthropic", "openai", "google", "qwen", "opencode"]) {
    assert.ok(config.providers.has(name), `provider ${name} loads`);
  }
  assert.equal(config.providers.get("google")?.models.get("agy")?.command, "agy --print");
  assert.ok(
    config.problems.every((p) => p.severity === "warning"),
    JSON.stringify(config.problems),
  );
});

Deno.test("the compiled config validator matches crosstalk.schema.json (run deno task gen)", async () => {
  const { renderValidatorModule } = await import("../../scripts/gen_validator.ts");
  const current = await Deno.readTextFile(
    new URL("../../schema/_config_validator.js", import.meta.url),
  );
  assert.equal(current, renderValidatorModule());
});
