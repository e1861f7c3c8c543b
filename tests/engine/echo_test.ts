import assert from "node:assert/strict";
import { echoReply } from "../../engine/echo.ts";

Deno.test("echoReply answers with the body of the last message in the prompt", () => {
  const prompt = [
    "# crosstalk protocol for agents",
    "...",
    "<!-- crosstalk:message 1 of 2 -->",
    "from: steve",
    "",
    "first",
    "<!-- crosstalk:message 2 of 2 -->",
    "from: steve",
    "id: 2026/11/22/031522123Z-9f3a01bc.md",
    "",
    "second\nline",
  ].join("\n");
  assert.equal(echoReply(prompt), "echo: second\nline");
});

Deno.test("echoReply echoes a bare prompt whole", () => {
  assert.equal(echoReply("  hello  "), "echo: hello");
});
