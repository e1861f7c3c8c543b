// The web UI's Compose button in a real browser (Debian's chromium, driven by playwright-core)
// against a real engine on loopback whose planner is a script that reads its prompt.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import { COMPOSE_MODELS, EngineProcess, makeTransport } from "../engine/_harness.ts";
import { BOSS, browser } from "./_web.ts";

Deno.test("the web UI composes a plan from prose into the form, to review, edit, check and start; and says why when it cannot", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "transport");
  await makeTransport(root, COMPOSE_MODELS);
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(dir.path, "state"),
    env: { CROSSTALK_INIT_USERNAME: BOSS.username, CROSSTALK_INIT_PASSPHRASE: BOSS.passphrase },
  });
  const url = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  await using chrome = await browser();
  const page = await chrome.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(`${url}/ui/`);
  await page.fill("#login input[name=username]", BOSS.username);
  await page.fill("#login input[name=passphrase]", BOSS.passphrase);
  await page.click("#login button[type=submit]");
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  await page.click("#tabs [data-view=workflows]");
  await page.locator("#workflows tr", { hasText: "none yet" }).waitFor();
  const body = "#new-workflow textarea[name=body]";
  const to = "#new-workflow input[name=to]";

  // A model that answers prose: its reason, and the text left as it was.
  await page.fill(body, "Name the project.");
  await page.fill(to, "chatty");
  await page.click("#compose-plan");
  await page.locator("#workflow-error", {
    hasText: /^The planner's reply \(test\/chatty@a\) holds no plan: expected a JSON object/,
  }).waitFor();
  assert.equal(await page.inputValue(body), "Name the project.");
  assert.ok(await page.isEnabled("#compose-plan"));

  // A plan naming a model the transport lacks: in the form to be fixed, with what is wrong.
  await page.fill(body, "Name the ghost ship.");
  await page.fill(to, "composer");
  await page.click("#compose-plan");
  await page.locator("#workflow-error", {
    hasText:
      /^The plan composer wrote needs fixing before it can start: fanout\[0\]\.to: Unknown model "ghost\/writer"/,
  }).waitFor();
  assert.match(
    await page.inputValue(body),
    /^Name the ghost ship\.\n\n```yaml\nfanout:\n {2}- to: ghost\/writer\n/,
  );
  assert.ok(await page.isHidden("#checked-plan"));

  // Composed by the first model (to: workflow): the text and its plan in the form, shown as read.
  await page.fill(body, "Name the project.");
  await page.fill(to, "workflow");
  await page.click("#compose-plan");
  await page.locator("#checked-plan").waitFor();
  assert.equal(
    await page.inputValue(body),
    "Name the project.\n\n```yaml\nfanout:\n  - to: draft\n    count: 2\n" +
      '    prompt: "Draft: Name the project."\nsynthesize:\n  to: merge\n' +
      "  prompt: Pick the better draft.\n```\n",
  );
  assert.equal(await page.inputValue(to), "workflow");
  assert.equal(await page.textContent("#workflow-error"), "");
  assert.deepEqual(await page.locator("#checked-plan li").allTextContents(), [
    "fan-out: 2 × draft: Draft: Name the project.",
    "synthesis: merge: Pick the better draft.",
  ]);

  // Edited by hand, checked again and started: it runs as edited.
  await page.fill(body, (await page.inputValue(body)).replace("count: 2", "count: 3"));
  await page.click("#check-plan");
  await page.locator("#checked-plan li", { hasText: "fan-out: 3 × draft" }).waitFor();
  await page.click("#new-workflow button[type=submit]");
  await page.locator("#workflow-phase", { hasText: /^complete$/ }).waitFor();
  const steps = await page.locator("#workflow-steps tr td:first-child").allTextContents();
  assert.deepEqual(steps, ["fanout-1", "fanout-2", "fanout-3", "synthesize"]);
  assert.deepEqual(pageErrors, []);
});
