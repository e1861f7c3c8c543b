// Message bodies as markdown in the web UI, in a real browser (Debian's chromium, driven by
// playwright-core) against a real engine on loopback: elements made with the DOM, never markup.
import assert from "node:assert/strict";
import { tempDir } from "../_helpers.ts";
import { apiAs, BOSS, browser, engineWithBoss, newPage, signIn } from "./_web.ts";

const CODE = [
  `const html = "<b>not bold</b>";`,
  "if (a < b && c > d) console.log(`**not bold** [not](https://a.link)`);",
  "    indented, kept as it is",
].join("\n");

const BODY = [
  "## Steps to *take*",
  "",
  "Run **this** with `deno task ok`, then read [the docs](https://example.com/docs?a=1&b=2)",
  "or https://example.org/x. A snake_case_name stays as it is.",
  "",
  "- first",
  "- second with `code`",
  "",
  "1. one",
  "2. two",
  "",
  "> quoted",
  "",
  "```ts",
  CODE,
  "```",
  "",
  "[click me](javascript:alert(1)) [or me](data:text/html,x)",
  `<img src=x onerror="window.pwned = true"> <script>window.pwned = true</script>`,
].join("\n");

Deno.test("the web UI shows a message's markdown (code blocks as they are, lists, headings, bold, inline code, http links) and keeps raw HTML and other links as text", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  const sent = await call<{ id: string }>("POST", "/api/messages", { to: "carol", body: BODY });
  await call("POST", "/api/messages", { to: "boss", body: "done", re: sent.id });
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  const body = page.locator(`#messages .message[data-id="${sent.id}"] .body`);
  await body.locator("pre").waitFor();

  // The code block: its text exactly, nothing in it read as markdown or markup.
  assert.equal(await body.locator("pre > code").textContent(), CODE);
  assert.equal(await body.locator("pre > code").getAttribute("data-language"), "ts");
  assert.equal(await body.locator("pre a, pre strong, pre b").count(), 0);

  const heading = body.locator(".heading");
  assert.equal(await heading.textContent(), "Steps to take");
  assert.equal(await heading.getAttribute("role"), "heading");
  assert.equal(await heading.locator("em").textContent(), "take");
  assert.deepEqual(await body.locator("ul > li").allTextContents(), ["first", "second with code"]);
  assert.deepEqual(await body.locator("ol > li").allTextContents(), ["one", "two"]);
  assert.equal(await body.locator("blockquote").textContent(), "quoted");
  assert.equal(await body.locator("p strong").textContent(), "this");
  assert.deepEqual(await body.locator("p code, li code").allTextContents(), [
    "deno task ok",
    "code",
  ]);
  assert.match(await body.locator("p").nth(1).textContent() ?? "", /A snake_case_name stays/);

  // Links: http(s) only, opened apart from the page; the others stay text.
  const links = await body.locator("a").evaluateAll((nodes) =>
    nodes.map((a) => ({
      text: a.textContent,
      href: a.getAttribute("href"),
      rel: a.getAttribute("rel"),
      target: a.getAttribute("target"),
    }))
  );
  assert.deepEqual(links, [
    {
      text: "the docs",
      href: "https://example.com/docs?a=1&b=2",
      rel: "noopener noreferrer",
      target: "_blank",
    },
    {
      text: "https://example.org/x",
      href: "https://example.org/x",
      rel: "noopener noreferrer",
      target: "_blank",
    },
  ]);
  const text = await body.textContent() ?? "";
  assert.ok(text.includes("[click me](javascript:alert(1)) [or me](data:text/html,x)"), text);

  // Raw HTML is text: shown as written, no element made of it, nothing run.
  assert.ok(
    text.includes(`<img src=x onerror="window.pwned = true"> <script>window.pwned = true</script>`),
    text,
  );
  assert.equal(await page.locator("#messages img, #messages script, #messages b").count(), 0);
  assert.equal(await page.evaluate(() => (globalThis as { pwned?: boolean }).pwned), undefined);

  // One-line previews stay plain text: the reply's quote of it.
  const quote = page.locator("#messages .message.reply .quote");
  assert.match(
    await quote.textContent() ?? "",
    /^↩ boss: ## Steps to \*take\*\n\nRun \*\*this\*\*/,
  );
  assert.deepEqual(pageErrors, []);
});
