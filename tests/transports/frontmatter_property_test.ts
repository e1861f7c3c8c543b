import assert from "node:assert/strict";
import fc from "fast-check";
import { parseYaml, stringifyFlatMap, stringifyYamlGeneral } from "../../schema/yaml.ts";
import { fastFrontmatter } from "../../transports/_frontmatter.ts";
import { formatMessage } from "../../transports/message.ts";

const tricky = [
  "true",
  "False",
  "NULL",
  "~",
  "yes",
  "1",
  "-2",
  "1e5",
  "0x1F",
  "0o17",
  ".inf",
  "-.Inf",
  ".nan",
  "1.",
  ".5",
  "a:",
  "a: b",
  "a #b",
  "#x",
  "-x",
  "? y",
  "[a",
  "a]",
  "'q'",
  '"q"',
  "&a",
  "*a",
  "!t",
  "|",
  ">",
  "%x",
  "@x",
  "`x`",
  "2026-11-22T03:15:22.123Z",
  "2026/11/22/031522123Z-9f3a01bc.md",
  "anthropic/sonnet@laptop",
  "a,b",
  " a",
  "a ",
  "",
  "é",
  "a\tb",
];
const value = fc.oneof(
  fc.constantFrom(...tricky),
  fc.stringMatching(/^[A-Za-z0-9_.:\/@+#, -]{0,12}$/),
);
const line = fc.oneof(
  fc.tuple(
    fc.constantFrom("from", "to", "re", "timestamp", "as", "x_y", "constructor", "__proto__"),
    value,
  )
    .map(([k, v]) => `${k}: ${v}`),
  fc.tuple(fc.constantFrom("to", "re"), fc.array(value, { minLength: 1, maxLength: 3 }))
    .map(([k, vs]) => `${k}: [${vs.join(", ")}]`),
  fc.tuple(fc.constantFrom("to", "re"), fc.array(value, { minLength: 1, maxLength: 3 }))
    .map(([k, vs]) => `${k}:\n${vs.map((v) => `- ${v}`).join("\n")}`),
  fc.tuple(
    fc.constantFrom("to", "re"),
    fc.array(value, { minLength: 1, maxLength: 3 }),
    fc.constantFrom(" ", "  ", "   "),
  )
    .map(([k, vs, indent]) => `${k}:\n${vs.map((v) => `${indent}- ${v}`).join("\n")}`),
  value,
);

function slow(text: string): unknown {
  try {
    return parseYaml(text, { file: "x", code: "ERR_MESSAGE_INVALID" }).value;
  } catch {
    return "parse error";
  }
}

Deno.test("fastFrontmatter reads exactly what the YAML parser reads, or declines", () => {
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), (lines) => {
      const text = `${lines.join("\n")}\n`;
      const fast = fastFrontmatter(text);
      if (fast !== undefined) assert.deepEqual(fast, slow(text), JSON.stringify(text));
    }),
    { seed: 20261122, numRuns: 3000 },
  );
});

Deno.test("fastFrontmatter takes the frontmatter crosstalk writes", () => {
  const text = formatMessage({
    from: "anthropic/sonnet@laptop",
    to: ["steve", "echo"],
    timestamp: "2026-11-22T03:15:22.123Z",
    re: ["2026/11/22/031522123Z-9f3a01bc.md"],
    body: "hi",
  });
  const frontmatter = text.split("---\n")[1]!;
  const fast = fastFrontmatter(frontmatter);
  assert.ok(fast, frontmatter);
  assert.deepEqual(fast, slow(frontmatter));
});

const key = fc.oneof(
  fc.constantFrom(
    "from",
    "to",
    "re",
    "timestamp",
    "failed",
    "true",
    "No",
    "x-y",
    "a.b",
    "__proto__",
  ),
  fc.stringMatching(/^[A-Za-z0-9_.:\/@+#, -]{1,8}$/),
);
const item = fc.oneof(
  value,
  fc.boolean(),
  fc.array(value, { minLength: 0, maxLength: 3 }),
  fc.integer(),
  fc.constant(null),
);

Deno.test("stringifyFlatMap writes exactly what the yaml package writes, or declines", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(key, item), { minLength: 0, maxLength: 6 }), (pairs) => {
      const map: Record<string, unknown> = {};
      for (const [k, v] of pairs) {
        Object.defineProperty(map, k, { value: v, enumerable: true, configurable: true });
      }
      const fast = stringifyFlatMap(map);
      if (fast !== undefined) assert.equal(fast, stringifyYamlGeneral(map), JSON.stringify(map));
    }),
    { seed: 20261202, numRuns: 3000 },
  );
});

Deno.test("stringifyFlatMap takes the frontmatter of the messages crosstalk writes", () => {
  const head = {
    from: "anthropic/sonnet@laptop",
    to: ["steve", "echo"],
    timestamp: "2026-11-22T03:15:22.123Z",
    re: "2026/11/22/031522123Z-9f3a01bc.md",
    failed: true,
  };
  const fast = stringifyFlatMap(head);
  assert.ok(fast);
  assert.equal(fast, stringifyYamlGeneral(head));
});
