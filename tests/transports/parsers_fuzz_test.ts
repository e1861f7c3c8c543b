// Fuzz runs of every text parser: on any input they return, or throw a CrosstalkError.
// Anything else (TypeError, RangeError, a stack overflow, a run that takes seconds) fails.
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { parseConfig } from "../../engine/config.ts";
import { parseDotenv } from "../../engine/dotenv.ts";
import { CrosstalkError } from "../../schema/errors.ts";
import { parseYaml } from "../../schema/yaml.ts";
import { parseChannelFile } from "../../transports/channel.ts";
import { parseMessage } from "../../transports/message.ts";

const SEED = 20261122;
/** One parse of a few KiB taking longer than this is a hang in the making. */
const SLOW_MS = 2000;

// ---- Inputs ----------------------------------------------------------------------------------

const VALID_MESSAGES = [
  `---
from: steve
to: [sonnet, echo]
timestamp: 2026-11-21T09:00:00.000Z
as: orchestrator
---

Plan tests for the three untested parser functions.
Ask echo first to check that the bus works.
`,
  `---
from: anthropic/sonnet@laptop
to:
  - steve
  - openrouter/qwen
timestamp: 2026-11-22T03:15:22.123Z
re:
  - 2026/11/21/090000000Z-c0ffee01.md
  - 2026/11/21/090012045Z-deadbeef.md
type: workflow
failed: true
error: |-
  exit code 1
  --- stderr ---
child_channel: 6f0e1d2c-3b4a-4596-8877-665544332211
workflow_phase: merge
---

Body with a --- line
---
and more.
`,
  "\uFEFF---\r\nfrom: a\r\nto: b\r\ntimestamp: 2026-01-01T00:00:00Z\r\nre: 2026/11/21/090000000Z-c0ffee01.md\r\n---\r\nhi\r\n",
];

const VALID_CHANNELS = [
  `---
name: design
parent: 0b7c5a52-3f1e-4c55-9a86-1d2e3f405162
created: 2026-11-21T14:00:00.000Z
---

Design work for the parser rewrite.
`,
  "---\r\nname: 'general # 1'\r\nparent: null\r\ntags: [a, b]\r\n---\r\n",
];

const VALID_CONFIGS = [
  `# crosstalk config
transport: git
engine:
  watch: auto
  poll_interval_ms: 1000
  timeout_seconds: 600
  concurrency: 4
  model_concurrency: 1
limits:
  message_bytes: 1048576
  output_bytes: 1048576
providers:
  builtin:
    models:
      echo: crosstalk agent echo
  openrouter:
    env_file: auth/openrouter.env
    env:
      OPENROUTER_API_KEY: \${OPENROUTER_API_KEY}
    models:
      qwen: opencode run --model openrouter/qwen
      "k2.5": opencode run --model openrouter/kimi
`,
  "{transport: local, providers: {a: {env_file: auth/a.env, models: {m: 'x  y'}}}}\n",
  "providers:\n",
];

const VALID_DOTENVS = [
  `# secrets
OPENROUTER_API_KEY=sk-or-v1-abc
export ANTHROPIC_API_KEY = "sk-ant \\"quoted\\"\\n" # comment
SINGLE='literal \\n $HOME'
EMPTY=
  INDENTED=value # trailing comment
`,
  "A=1\r\nB='2'\r\n\r\n#c\r\nC=\"3\"\r\n",
];

/** Pieces that stress YAML, frontmatter and dotenv readers. */
const TOKENS = [
  "\0",
  "\r",
  "\n",
  "\r\n",
  "\t",
  " ",
  "---",
  "\n---\n",
  "...",
  ":",
  ": ",
  "&a ",
  "*a",
  "&a [*a]",
  "&a {k: *a}",
  "&a\n  - *a",
  "!!",
  "!!binary aGk=",
  "!!str ",
  "!!int ",
  "!!float ",
  "!!set ",
  "!!omap ",
  "!!map ",
  "!!timestamp 2026-01-01",
  "!<tag:yaml.org,2002:str> ",
  "!local ",
  "%YAML 1.1\n",
  "%TAG ! tag:x,2000:\n",
  "? ",
  "- ",
  "|",
  ">",
  "|-\n",
  "|+\n",
  '"',
  "'",
  "\\",
  "#",
  "{",
  "}",
  "[",
  "]",
  ",",
  "<<: *a",
  "<<",
  "~",
  "null",
  ".",
  "..",
  "/",
  "auth",
  "auth/",
  "\uFEFF",
  "\uFFFD",
  "\u2028",
  "\u2029",
  "\u0085",
  "\u007F",
  "1e400",
  "-1e400",
  "99999999999999999999999999",
  "0x7FFFFFFFFFFFFFFFFFFF",
  "0o777777777777777777777777",
  "-0",
  ".nan",
  ".inf",
  "${X}",
  "${",
  "=",
  "export ",
  '"\\0"',
  '"a\\0b"',
  '"\\uD800"',
  '"\\x00"',
  '"\\N\\_\\L\\P"',
  "2026/11/21/090000000Z-c0ffee01.md",
  "__proto__",
  "constructor",
];

const unicodeArb = (maxLength: number) =>
  fc.string({ unit: "binary", maxLength }).filter((s) => s.isWellFormed());

/** Bytes as a file reader would decode them (invalid sequences become U+FFFD). */
const bytesAsTextArb = fc.uint8Array({ maxLength: 400 }).map((bytes) =>
  new TextDecoder().decode(bytes)
);

const tokenSoupArb = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join(""));

const randomTextArb = fc.oneof(
  fc.string({ maxLength: 300 }),
  unicodeArb(300),
  fc.string({ unit: "grapheme", maxLength: 100 }),
  bytesAsTextArb,
  tokenSoupArb,
);

/** Random text, and random text inside a frontmatter block so the YAML reader sees it. */
const randomFrontmatterArb = fc.oneof(
  randomTextArb,
  fc.tuple(randomTextArb, randomTextArb).map(([head, body]) => `---\n${head}\n---\n${body}`),
);

/** JSON is YAML too: random JSON values as a whole document or as a value. */
const jsonTextArb = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null");

const deepArb = fc.oneof(
  fc.integer({ min: 1, max: 1500 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  fc.integer({ min: 1, max: 1500 }).map((n) => "{a: ".repeat(n) + "1" + "}".repeat(n)),
  fc.integer({ min: 1, max: 1500 }).map((n) => "[".repeat(n)),
  fc.integer({ min: 1, max: 120 }).map((n) =>
    "\n" + Array.from({ length: n }, (_, i) => `${" ".repeat(i + 2)}k${i}:`).join("\n") + " 1"
  ),
  fc.integer({ min: 1, max: 120 }).map((n) =>
    "\n" + Array.from({ length: n }, (_, i) => `${" ".repeat(i + 2)}-`).join("\n") + " 1"
  ),
);

const hugeNumberArb = fc.oneof(
  fc.stringMatching(/^-?[1-9][0-9]{20,400}$/),
  fc.integer({ min: 300, max: 100000 }).map((n) => `1e${n}`),
  fc.stringMatching(/^0x[0-9A-F]{20,200}$/),
  fc.double().map(String),
);

const tokenArb = fc.oneof(
  { arbitrary: fc.constantFrom(...TOKENS), weight: 6 },
  { arbitrary: unicodeArb(20), weight: 2 },
  {
    arbitrary: fc.stringMatching(/^[0-9]{4}\/[0-9]{2}\/[0-9]{2}\/[0-9]{9}Z-[0-9a-f]{8}\.md$/),
    weight: 1,
  },
  { arbitrary: jsonTextArb, weight: 2 },
  { arbitrary: hugeNumberArb, weight: 1 },
  { arbitrary: deepArb, weight: 1 },
);

type Edit = {
  kind: "insert" | "delete" | "replace" | "value" | "duplicate";
  at: number;
  length: number;
  token: string;
};

const editArb: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom("insert", "delete", "replace", "value", "value", "duplicate"),
  at: fc.nat(),
  length: fc.nat({ max: 12 }),
  token: tokenArb,
}, { noNullPrototype: true });

/** Applies one edit; `value` replaces what follows the colon of a line, `duplicate` a line. */
function applyEdit(text: string, edit: Edit): string {
  const i = edit.at % (text.length + 1);
  switch (edit.kind) {
    case "insert":
      return text.slice(0, i) + edit.token + text.slice(i);
    case "delete":
      return text.slice(0, i) + text.slice(i + edit.length + 1);
    case "replace":
      return text.slice(0, i) + edit.token + text.slice(i + edit.length + 1);
    case "value": {
      const lines = text.split("\n");
      const n = edit.at % lines.length;
      const line = lines[n]!;
      const colon = line.search(/[:=] ?/);
      lines[n] = colon < 0 ? line + edit.token : line.slice(0, colon + 1) + " " + edit.token;
      return lines.join("\n");
    }
    case "duplicate": {
      const lines = text.split("\n");
      const n = edit.at % lines.length;
      lines.splice(n, 0, lines[n]!);
      return lines.join("\n");
    }
  }
}

function mutatedArb(seeds: string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(editArb, { minLength: 1, maxLength: 6 }))
    .map(([seed, edits]) => edits.reduce(applyEdit, seed));
}

// ---- Checks ----------------------------------------------------------------------------------

function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Runs `parse`; passes when it returns or throws a CrosstalkError, quickly. */
function expectReturnOrCrosstalkError(what: string, parse: () => unknown): void {
  const start = performance.now();
  try {
    parse();
  } catch (error) {
    if (!(error instanceof CrosstalkError)) {
      throw new assert.AssertionError({
        message: `${what} threw ${describe(error)}`,
        actual: error,
      });
    }
  }
  const ms = performance.now() - start;
  assert.ok(ms < SLOW_MS, `${what} took ${ms.toFixed(0)} ms`);
}

async function expectReturnOrCrosstalkErrorAsync(
  what: string,
  parse: () => Promise<unknown>,
): Promise<void> {
  const start = performance.now();
  try {
    await parse();
  } catch (error) {
    if (!(error instanceof CrosstalkError)) {
      throw new assert.AssertionError({
        message: `${what} threw ${describe(error)}`,
        actual: error,
      });
    }
  }
  const ms = performance.now() - start;
  assert.ok(ms < SLOW_MS, `${what} took ${ms.toFixed(0)} ms`);
}

function fuzzParseYaml(text: string, path: (string | number)[]): void {
  expectReturnOrCrosstalkError("parseYaml", () => {
    const doc = parseYaml(text, { file: "f.yaml", code: "ERR_CONFIG_INVALID" });
    const value = doc.value;
    const firstKey = value && typeof value === "object" ? Object.keys(value)[0] : undefined;
    for (const p of [path, firstKey === undefined ? [] : [firstKey, ...path]]) {
      for (const key of [false, true]) {
        const pos = doc.positionOf(p, key);
        assert.ok(Number.isInteger(pos.line) && pos.line >= 1, `line ${pos.line}`);
        assert.ok(Number.isInteger(pos.column) && pos.column >= 1, `column ${pos.column}`);
      }
    }
    return doc;
  });
}

const pathArb = fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.nat(5)), { maxLength: 4 });

/** A transport root with an env file and a folder where an env file could be. */
async function makeRoot(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "crosstalk-fuzz-" });
  await Deno.mkdir(join(root, "auth"));
  await Deno.writeTextFile(join(root, "auth", "openrouter.env"), "OPENROUTER_API_KEY=sk\n");
  await Deno.writeTextFile(join(root, "auth", "a.env"), "BROKEN\n");
  return root;
}

// ---- Fuzz runs -------------------------------------------------------------------------------

Deno.test("parseMessage returns or throws a CrosstalkError on random text", () => {
  fc.assert(
    fc.property(randomFrontmatterArb, (text) => {
      expectReturnOrCrosstalkError("parseMessage", () => parseMessage(text, { file: "m.md" }));
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

Deno.test("parseMessage returns or throws a CrosstalkError on mutated valid messages", () => {
  fc.assert(
    fc.property(mutatedArb(VALID_MESSAGES), (text) => {
      expectReturnOrCrosstalkError("parseMessage", () => parseMessage(text, { file: "m.md" }));
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

Deno.test("parseChannelFile returns or throws a CrosstalkError on random text", () => {
  fc.assert(
    fc.property(randomFrontmatterArb, (text) => {
      expectReturnOrCrosstalkError(
        "parseChannelFile",
        () => parseChannelFile("0b7c5a52-3f1e-4c55-9a86-1d2e3f405162", text, "CHANNEL.md"),
      );
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

Deno.test("parseChannelFile returns or throws a CrosstalkError on mutated valid files", () => {
  fc.assert(
    fc.property(mutatedArb(VALID_CHANNELS), (text) => {
      expectReturnOrCrosstalkError(
        "parseChannelFile",
        () => parseChannelFile("0b7c5a52-3f1e-4c55-9a86-1d2e3f405162", text, "CHANNEL.md"),
      );
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

Deno.test("parseDotenv returns or throws a CrosstalkError on random and mutated text", () => {
  fc.assert(
    fc.property(fc.oneof(randomTextArb, mutatedArb(VALID_DOTENVS)), (text) => {
      expectReturnOrCrosstalkError("parseDotenv", () => parseDotenv(text, "auth/x.env"));
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test("parseYaml returns or throws a CrosstalkError on random text, and positionOf never throws", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        { arbitrary: randomTextArb, weight: 4 },
        { arbitrary: jsonTextArb, weight: 2 },
        { arbitrary: deepArb, weight: 1 },
      ),
      pathArb,
      fuzzParseYaml,
    ),
    { seed: SEED, numRuns: 1000 },
  );
});

Deno.test("parseYaml returns or throws a CrosstalkError on mutated valid documents", () => {
  const seeds = [...VALID_CONFIGS, ...VALID_CHANNELS.map((c) => c.split("---")[1]!)];
  fc.assert(
    fc.property(mutatedArb(seeds), pathArb, fuzzParseYaml),
    { seed: SEED, numRuns: 1000 },
  );
});

Deno.test("parseConfig returns or throws a CrosstalkError on random text", async () => {
  const root = await makeRoot();
  try {
    await fc.assert(
      fc.asyncProperty(fc.oneof(randomTextArb, jsonTextArb), async (text) => {
        await expectReturnOrCrosstalkErrorAsync("parseConfig", () => parseConfig(text, root));
      }),
      { seed: SEED, numRuns: 1000 },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("parseConfig returns or throws a CrosstalkError on mutated valid configs", async () => {
  const root = await makeRoot();
  try {
    await fc.assert(
      fc.asyncProperty(mutatedArb(VALID_CONFIGS), async (text) => {
        await expectReturnOrCrosstalkErrorAsync("parseConfig", () => parseConfig(text, root));
      }),
      { seed: SEED, numRuns: 1000 },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("parseMessage returns or throws a CrosstalkError whatever YAML value a known key holds", () => {
  const keyArb = fc.constantFrom("from", "to", "timestamp", "re", "as", "type", "failed", "error");
  fc.assert(
    fc.property(keyArb, tokenArb, (key, value) => {
      const fields = new Map([
        ["from", "a"],
        ["to", "b"],
        ["timestamp", "2026-01-01T00:00:00Z"],
        [key, value],
      ]);
      const yaml = [...fields].map(([k, v]) => `${k}: ${v}`).join("\n");
      const text = `---\n${yaml}\n---\nbody\n`;
      expectReturnOrCrosstalkError("parseMessage", () => parseMessage(text, { file: "m.md" }));
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

Deno.test("parseConfig returns or throws a CrosstalkError whatever env_file names", async () => {
  const root = await makeRoot();
  const envFileArb = fc.oneof(
    fc.constantFrom(".", "./", "auth", "auth/", "auth/.", "auth/a.env/..", "a/../auth", "\0"),
    unicodeArb(20),
    fc.array(fc.constantFrom("auth", ".", "..", "/", "a.env", "\0", "x".repeat(300)), {
      minLength: 1,
      maxLength: 6,
    }).map((parts) => parts.join("")),
  );
  try {
    await fc.assert(
      fc.asyncProperty(envFileArb, async (envFile) => {
        // JSON is a YAML double-quoted scalar, so any string reaches checkProvider as written.
        const text = `providers:\n  p:\n    env_file: ${JSON.stringify(envFile)}\n` +
          `    models:\n      m: echo\n`;
        await expectReturnOrCrosstalkErrorAsync("parseConfig", () => parseConfig(text, root));
      }),
      { seed: SEED, numRuns: 500 },
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// ---- Minimal counterexamples found by the runs above, one test each ---------------------------

Deno.test("parseMessage rejects a 'type' that is a self-referencing alias with a CrosstalkError", () => {
  const text = "---\nfrom: a\nto: b\ntimestamp: 2026-01-01T00:00:00Z\ntype: &a [*a]\n---\n";
  assert.throws(
    () => parseMessage(text, { file: "m.md" }),
    (error) => error instanceof CrosstalkError && error.code === "ERR_MESSAGE_INVALID",
  );
});

Deno.test("parseMessage rejects a 're' id in a year before 1000 with a CrosstalkError", () => {
  const text =
    "---\nfrom: a\nto: b\ntimestamp: 2026-01-01T00:00:00Z\nre: 0999/01/01/000000000Z-00000000.md\n---\n";
  assert.throws(
    () => parseMessage(text, { file: "m.md" }),
    (error) => error instanceof CrosstalkError && error.code === "ERR_MESSAGE_INVALID",
  );
});

Deno.test("parseConfig reports an env_file that is a folder, has a NUL byte or is too long", async () => {
  const root = await makeRoot();
  const cases = { ".": ".", "auth": "auth", "NUL": '"a\\0b"', "5000 chars": "a".repeat(5000) };
  const outcomes: Record<string, string> = {};
  try {
    for (const [label, envFile] of Object.entries(cases)) {
      const text = `providers:\n  p:\n    env_file: ${envFile}\n    models:\n      m: echo\n` +
        `  q:\n    models:\n      n: echo\n`;
      try {
        const config = await parseConfig(text, root);
        const problem = config.problems.find((p) => p.provider === "p");
        outcomes[label] = `loaded ${[...config.providers.keys()]}; ${problem?.severity} at ` +
          `${problem?.path}`;
      } catch (error) {
        outcomes[label] = `threw ${describe(error)}`;
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  const expected = "loaded q; error at providers.p.env_file";
  assert.deepStrictEqual(outcomes, {
    ".": expected,
    "auth": expected,
    "NUL": expected,
    "5000 chars": expected,
  });
});

Deno.test("parseYaml turns nesting deeper than the stack into an InvalidDocumentError", () => {
  for (const text of ["[".repeat(20_000) + "]".repeat(20_000), "- ".repeat(20_000) + "1"]) {
    assert.throws(
      () => parseYaml(text, { file: "f.yaml", code: "ERR_CONFIG_INVALID" }),
      (error) => error instanceof CrosstalkError && error.code === "ERR_CONFIG_INVALID",
    );
  }
});
