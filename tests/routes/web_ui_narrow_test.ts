// The web UI on a phone's width and on a desktop's, in a real browser (Debian's chromium, driven by
// playwright-core) against a real engine on loopback.
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { tempDir } from "../_helpers.ts";
import { apiAs, BOSS, browser, engineWithBoss, newPage, signIn } from "./_web.ts";

const LONG_WORD = "unbroken".repeat(60);
const LONG_LINE = "const line = " + "1 + ".repeat(100) + "1;";

/** The window's inner width and height, as the page sees them. */
function inner(page: Page): Promise<{ innerWidth: number; innerHeight: number }> {
  return page.evaluate(() => {
    const { innerWidth, innerHeight } = globalThis as unknown as Record<string, number>;
    return { innerWidth: innerWidth!, innerHeight: innerHeight! };
  });
}

/** How far the page scrolls sideways (0 when it fits its window). */
async function overflow(page: Page): Promise<number> {
  const scrollWidth = await page.locator("html").evaluate((html) => html.scrollWidth);
  return Math.max(0, scrollWidth - (await inner(page)).innerWidth);
}

/** Asserts that an element is wholly inside the window's width. */
async function assertInside(node: Locator, width: number, what: string) {
  const box = await node.boundingBox();
  assert.ok(box, `${what} is shown`);
  assert.ok(box.x >= 0 && box.x + box.width <= width, `${what} at ${box.x}+${box.width}`);
}

Deno.test("the web UI fits a phone's width: the header wraps, the form and long words and code stay inside, every view fits; a desktop keeps its columns", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  await call("POST", "/api/messages", { to: "carol", body: `a long word: ${LONG_WORD}` });
  await call("POST", "/api/messages", { to: "carol", body: "```\n" + LONG_LINE + "\n```" });
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#messages .message pre").waitFor();
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();

  assert.equal(await overflow(page), 0);
  const width = (await inner(page)).innerWidth;
  assert.equal(width, 390);
  for (const button of await page.locator("header button:visible").all()) {
    await assertInside(button, width, `the button ${await button.textContent()}`);
  }
  await assertInside(page.locator("#search input[name=q]"), width, "the search field");
  await assertInside(page.locator("#search button"), width, "the search button");
  await assertInside(page.locator("#send input[name=to]"), width, "the send form's to");
  await assertInside(page.locator("#send textarea"), width, "the send form's textarea");
  await assertInside(page.locator("#send button[type=submit]"), width, "the send button");
  await assertInside(page.locator("#channels"), width, "the channels");
  const word = page.locator("#messages .body", { hasText: LONG_WORD });
  await assertInside(word, width, "the message with a long word");
  // The code block scrolls inside itself.
  const code = page.locator("#messages pre");
  await assertInside(code, width, "the code block");
  assert.ok(await code.evaluate((pre) => pre.scrollWidth > pre.clientWidth));
  assert.equal(await code.textContent(), LONG_LINE);

  // A message typed here, with a long word too, is shown inside the width.
  await page.fill("#send input[name=to]", "carol");
  await page.fill("#send textarea", `typed: ${LONG_WORD}x`);
  await page.click("#send button[type=submit]");
  await page.locator("#messages .body", { hasText: `${LONG_WORD}x` }).waitFor();
  assert.equal(await overflow(page), 0);

  // Every other view fits too, once it has what it lists.
  for (
    const [view, loaded] of [
      ["tasks", "#task-list tr"],
      ["approvals", "#approvals-none"],
      ["workflows", "#workflows tr"],
      ["engine", "#models tr"],
      ["logs", "#log-lines li"],
      ["tokens", "#tokens tr"],
      ["account", "#passphrase"],
      ["users", "#users tr"],
    ] as const
  ) {
    await page.click(`#tabs [data-view=${view}]`);
    await page.locator(loaded).first().waitFor();
    assert.equal(await overflow(page), 0, view);
  }

  // On a desktop the channels stay beside the messages, and only the lists scroll.
  await page.click("#tabs [data-view=bus]");
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.locator("#messages .message pre").waitFor();
  const nav = await page.locator("nav").boundingBox();
  const main = await page.locator("main").boundingBox();
  assert.ok(nav && main && nav.x + nav.width <= main.x && nav.y === main.y, "columns");
  const scrollHeight = await page.locator("html").evaluate((html) => html.scrollHeight);
  assert.ok(scrollHeight <= (await inner(page)).innerHeight, "the page itself does not scroll");
  assert.equal(await overflow(page), 0);
  assert.deepEqual(pageErrors, []);
});
