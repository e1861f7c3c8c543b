import assert from "node:assert/strict";
import { parseDotenv } from "../../engine/dotenv.ts";
import { InvalidDocumentError } from "../../schema/errors.ts";

Deno.test("parseDotenv reads plain, exported, quoted and commented lines", () => {
  const text = [
    "# a comment",
    "",
    "PLAIN=value with spaces  ",
    "export EXPORTED=yes",
    "SINGLE='lit\\n $HOME'",
    'DOUBLE="line1\\nline2 \\"q\\""',
    "TRAILING=abc # note",
    "EMPTY=",
  ].join("\n");
  assert.deepEqual(parseDotenv(text, "auth/x.env"), {
    PLAIN: "value with spaces",
    EXPORTED: "yes",
    SINGLE: "lit\\n $HOME",
    DOUBLE: 'line1\nline2 "q"',
    TRAILING: "abc",
    EMPTY: "",
  });
});

Deno.test("parseDotenv names the line and column of every problem", () => {
  assert.throws(
    () => parseDotenv('OK=1\nnot a line\n1BAD=x\nQ="open\n', "auth/x.env"),
    (e: unknown) => {
      assert.ok(e instanceof InvalidDocumentError);
      assert.deepEqual(
        e.problems.map((p) => [p.line, p.column, p.path]),
        [[2, 1, ""], [3, 1, "1BAD"], [4, 3, "Q"]],
      );
      assert.match(e.message, /"auth\/x.env" 4:3: Q has no closing "/);
      return true;
    },
  );
});
