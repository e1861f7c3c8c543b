// Sending to all with some left out from the web UI, in a real browser (Debian's chromium, driven
// by playwright-core) against a real engine on loopback whose models answer at once.
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { apiAs, BOSS, browser, engineWithBoss, newPage, signIn } from "./_web.ts";

Deno.test("the web UI sends to all except the names given: the row says who was left out, and only the others answer", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path, {
    models: { reply: "reply.sh", other: "reply.sh" },
  });
  await using _engine = engine;
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#send input[name=to]").waitFor();
  await page.fill("#send input[name=to]", "all");
  await page.fill("#send input[name=exclude]", "test/other, carol");
  await page.fill("#send textarea[name=body]", "stand-up, please");
  await page.click("#send button[type=submit]");

  const row = page.locator("#messages .message", { hasText: "stand-up, please" }).first();
  await row.waitFor();
  assert.match(await row.locator(".head").textContent() ?? "", /→ all \(not test\/other, carol\)/);
  // test/reply answers; test/other, left out, never runs.
  await page.locator("#messages .message", { hasText: "reply from test/reply" }).waitFor();
  const call = await apiAs(url, BOSS);
  const { messages } = await call<{ messages: { from: string; exclude?: string[] }[] }>(
    "GET",
    `/api/messages?channel=${await page.evaluate("state.channel.id")}`,
  );
  assert.deepEqual(messages.find((m) => m.from === "boss")?.exclude, ["test/other", "carol"]);
  await engine.waitFor((r) => r.event === "run.replied" && r.model === "test/reply");
  assert.equal(
    engine.records.filter((r) => r.event === "claim.won" && r.model === "test/other").length,
    0,
  );
  assert.deepEqual(pageErrors, []);
});
