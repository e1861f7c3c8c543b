import assert from "node:assert/strict";
import fc from "fast-check";
import { mentionsOf, namesProvider } from "../../engine/mentions.ts";
import { tryParseAddress } from "../../transports/names.ts";

const CASES: [string, string, string[]][] = [
  ["at the start of the text", "@bob hi", ["bob"]],
  ["after a space", "hi @bob", ["bob"]],
  ["after a newline", "hi\n@bob look", ["bob"]],
  ["after a tab", "hi\t@bob", ["bob"]],
  ["after an opening bracket", "(cc @ann, @bob) and (@carol)", ["ann", "bob", "carol"]],
  ["after an opening quote or bracket", `"@ann" '@bob' [@carol] {@dan} <@eve>`, [
    "ann",
    "bob",
    "carol",
    "dan",
    "eve",
  ]],
  ["after curly quotes", "\u201c@ann\u201d \u2018@bob\u2019", ["ann", "bob"]],
  ["inside markdown emphasis", "**@ann** _@bob_ ~~@carol~~", ["ann", "bob", "carol"]],
  ["an email is no mention", "mail ann@example.com or bob@host", []],
  ["an email beside a mention", "@bob mail ann@example.com", ["bob"]],
  ["after a letter, digit or other punctuation", "x@bob 1@bob ,@bob :@bob /@bob", []],
  ["after a backslash", "\\@bob", []],
  ["a comma ends it", "@bob, look", ["bob"]],
  ["a colon ends it", "@bob: look", ["bob"]],
  ["a full stop ends it", "thanks @bob.", ["bob"]],
  ["several full stops end it", "hmm @bob...", ["bob"]],
  ["a question mark ends it", "@bob?", ["bob"]],
  ["an apostrophe ends it", "@bob's branch", ["bob"]],
  ["a dash or underscore at its end is punctuation", "@bob- @carol_", ["bob", "carol"]],
  ["a closing bracket ends it", "(@bob)", ["bob"]],
  ["names keep inner dots, dashes, underscores", "@claude-1.a_b go", ["claude-1.a_b"]],
  ["provider/model", "@test/echo run", ["test/echo"]],
  ["a slash at its end is punctuation", "@bob/ hi", ["bob"]],
  ["model@alias pins a machine", "@echo@laptop hi", ["echo@laptop"]],
  ["provider/model@alias", "@test/echo@laptop.", ["test/echo@laptop"]],
  ["an @ at its end is punctuation", "@bob@ hi", ["bob"]],
  ["duplicates once, in order", "@bob @ann @bob @ann @carol", ["bob", "ann", "carol"]],
  ["@here", "@here stand-up", ["here"]],
  ["@all", "@all please", ["all"]],
  ["here and others", "@here and @bob", ["here", "bob"]],
  ["a bare @ is text", "@ bob, a @ b", []],
  ["too many slashes is text", "@a/b/c", []],
  ["too many @ is text", "@a@b@c", []],
  ["a name must start with a letter or digit", "@.bob @-bob @_bob", []],
  ["a name over 64 characters is text", `@${"a".repeat(65)}`, []],
  ["a name of 64 characters is one", `@${"a".repeat(64)}`, ["a".repeat(64)]],
  ["a code span holds none", "see `@bob` and @ann", ["ann"]],
  ["a double-backtick span holds none", "``a ` @bob`` @ann", ["ann"]],
  ["code right before @ is no opener", "`x`@bob", []],
  ["a backtick left open is text", "it's ` @bob", ["bob"]],
  ["a span stays in its paragraph", "a ` b\n\n@bob ` c", ["bob"]],
  ["a fenced block holds none", "@ann\n```\n@bob\n```\n@carol", ["ann", "carol"]],
  ["a tilde fence holds none", "~~~ts\n@bob\n~~~\n@carol", ["carol"]],
  ["an indented fence holds none", "  ```\n  @bob\n  ```\n@carol", ["carol"]],
  ["a longer fence closes only at its length", "````\n```\n@bob\n````\n@carol", ["carol"]],
  ["a fence left open runs to the end", "@ann\n```\n@bob", ["ann"]],
  ["a tilde does not close a backtick fence", "```\n~~~\n@bob\n```\n@carol", ["carol"]],
  ["no mention at all", "hello there", []],
  ["a name with other letters is text, not cut short", "@bøb @zoë @bob", ["bob"]],
];

for (const [what, text, expected] of CASES) {
  Deno.test(`mentionsOf: ${what}`, () => {
    assert.deepEqual(mentionsOf(text), expected, JSON.stringify(text));
  });
}

Deno.test("namesProvider tells provider/model mentions from the others", () => {
  assert.equal(namesProvider("types/node"), true);
  assert.equal(namesProvider("test/echo@laptop"), true);
  assert.equal(namesProvider("bob"), false);
  assert.equal(namesProvider("echo@laptop"), false);
});

Deno.test("mentionsOf on any text returns addresses it mentions, each once", () => {
  const piece = fc.constantFrom(
    "@",
    "@bob",
    "@test/echo",
    "@a@b",
    "`",
    "```",
    "~~~",
    "\n",
    "\n\n",
    " ",
    ".",
    "(",
    "*",
    "\\",
    "x",
    "é",
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(piece, fc.string()), { maxLength: 60 }), (pieces) => {
      const text = pieces.join("");
      const found = mentionsOf(text);
      assert.equal(new Set(found).size, found.length, "each once");
      for (const address of found) {
        assert.ok(tryParseAddress(address), address);
        assert.ok(text.includes(`@${address}`), address);
      }
    }),
    { seed: 20261207, numRuns: 2000 },
  );
});

Deno.test("mentionsOf reads large texts in one pass: backtick runs, long punctuation, many names", () => {
  const ticks = Array.from({ length: 20_000 }, (_, i) => "`".repeat(1 + (i % 50))).join(" ");
  assert.deepEqual(mentionsOf(`${ticks} @bob`), ["bob"]);
  assert.deepEqual(mentionsOf(`@bob${".".repeat(500_000)}x`), []);
  assert.deepEqual(mentionsOf(`@bob${".".repeat(500_000)}`), ["bob"]);
  const names = Array.from({ length: 50_000 }, (_, i) => `@n${i}`);
  assert.equal(mentionsOf(names.join(" ")).length, 50_000);
});
