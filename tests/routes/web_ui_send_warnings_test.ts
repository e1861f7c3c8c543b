// The web UI's send form shows the engine's warnings of a sent message (an addressee nobody
// answers to), in a real browser (Debian's chromium, driven by playwright-core) against a real
// engine on loopback.
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { apiAs, BOSS, browser, engineWithBoss, newPage, openLiveAsBoss } from "./_web.ts";

Deno.test("the web UI sends to a name nobody answers to, shows the engine's warning naming it as text, and a normal send after it shows none", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await openLiveAsBoss(page, url);

  const body = page.locator("#send textarea[name=body]");
  // The body is emptied once the engine has answered 201, and the notice set in the same turn.
  const answered = () =>
    page.waitForFunction(() =>
      // @ts-ignore: the page's DOM
      document.querySelector("#send textarea[name=body]").value === ""
    );
  await page.fill("#send input[name=to]", "nobodyy");
  await body.fill("are you there?");
  await page.click("#send button[type=submit]");
  await answered();
  assert.equal(
    await page.textContent("#notice"),
    'Sent, but: No user, live agent or model is called "nobodyy": the message waits for one of that name',
  );
  assert.equal(await page.locator("#notice *").count(), 0, "the warning is text, not markup");
  assert.equal(await page.textContent("#send-error"), "");
  // Sent all the same: shown, and on the bus.
  await page.locator("#messages .message", { hasText: "are you there?" }).waitFor();
  const api = await apiAs(url, BOSS);
  const { messages } = await api<{ messages: { to: string[]; body: string }[] }>(
    "GET",
    "/api/messages?channel=general",
  );
  assert.deepEqual(
    messages.filter((m) => m.body.trim() === "are you there?").map((m) => m.to),
    [["nobodyy"]],
  );

  // To a user: no warning, and the one before is gone.
  await page.fill("#send input[name=to]", "boss");
  await body.fill("note to self");
  await page.click("#send button[type=submit]");
  await answered();
  await page.locator("#messages .message", { hasText: "note to self" }).waitFor();
  assert.equal(await page.textContent("#notice"), "");
  assert.equal(await page.textContent("#send-error"), "");
  assert.deepEqual(pageErrors, []);
});
