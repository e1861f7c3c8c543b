// Sending from the web UI with its To field empty: the text's @mentions address the message, in a
// real browser (Debian's chromium, driven by playwright-core) against a real engine on loopback.
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { browser, engineWithBoss, newPage, openLiveAsBoss } from "./_web.ts";

Deno.test("the web UI sends '@echo hi' with To left empty to echo, and shows echo's reply", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path, {
    commands: { echo: "crosstalk agent echo" },
  });
  await using _engine = engine;
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await openLiveAsBoss(page, url);

  const to = page.locator("#send input[name=to]");
  assert.equal(await to.getAttribute("required"), null, "To may be left empty");
  assert.match(await to.getAttribute("placeholder") ?? "", /or @mention in the text/);

  assert.equal(await to.inputValue(), "");
  await page.fill("#send textarea[name=body]", "@echo hi");
  await page.click("#send button[type=submit]");
  const sent = page.locator("#messages .message", { hasText: "@echo hi" }).first();
  await sent.waitFor();
  assert.equal(await sent.locator(".head .muted").first().textContent(), " → echo");
  const reply = page.locator("#messages .message.reply", { hasText: "echo: @echo hi" });
  await reply.waitFor();
  assert.match(await reply.locator(".head strong").textContent() ?? "", /^test\/echo@a$/);
  assert.equal(await page.textContent("#send-error"), "");

  // Neither To nor a mention: the engine's word on how to address it, and nothing sent.
  await page.fill("#send textarea[name=body]", "hello, anyone?");
  await page.click("#send button[type=submit]");
  await page.locator("#send-error", { hasText: /^No addressee: name them with "to"/ }).waitFor();
  assert.equal(await page.locator("#messages .message", { hasText: "hello, anyone?" }).count(), 0);
  assert.deepEqual(pageErrors, []);
});
