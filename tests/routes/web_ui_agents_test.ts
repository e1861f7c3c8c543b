// The web UI's tmux agents (the Engine tab) in a real browser (Debian's chromium, driven by
// playwright-core) against a real engine on loopback and a real tmux server whose revived pane runs
// the stand-in agent TUI.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir, waitUntil } from "../_helpers.ts";
import { READER, submissions, TmuxServer } from "../_tmux.ts";
import { apiAs, BOSS, browser, engineWithBoss, newPage, signIn } from "./_web.ts";

const CAROL = { username: "carol", passphrase: "carol's passphrase" };

interface TmuxAgent {
  name: string;
  up: boolean;
  pane: string | null;
  enabled: boolean;
  unread: number;
}

/** `text` quoted for a POSIX shell. */
function sh(text: string): string {
  return `'${text.replaceAll("'", `'\''`)}'`;
}

Deno.test("the web UI lists this machine's tmux agents live; an admin starts, disables, enables and removes one, and a user sees them without buttons", async () => {
  await using dir = await tempDir();
  await using tmux = new TmuxServer(dir.path);
  await tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "keepalive");
  const typed = join(dir.path, "typed.jsonl");
  await Deno.writeTextFile(typed, "");
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  await call("POST", "/api/users", CAROL);
  const markup = `<img src="x" onerror="window.pwned = true">`;
  await call("POST", "/api/tmux-agents", {
    name: "phoenix",
    target: "phoenix",
    socket: tmux.socket,
    enter_delay_ms: 20,
    // Shown to an admin on hover, as text.
    revive: `${sh(Deno.execPath())} run -A ${sh(READER)} ${sh(typed)} # ${markup}`,
    revive_grace_ms: 1000,
  });
  const agent = async () =>
    (await call<{ agents: TmuxAgent[] }>("GET", "/api/tmux-agents")).agents[0]!;

  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  // Confirmations: the next answer the test gives.
  const answers: boolean[] = [];
  page.on("dialog", (dialog) => void (answers.shift() ? dialog.accept() : dialog.dismiss()));
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  await page.click("#tabs [data-view=engine]");
  const row = page.locator('#tmux-agents tr[data-name="phoenix"]');
  const cells = () => row.locator("td").allTextContents();
  const button = (label: string) => row.locator("button", { hasText: new RegExp(`^${label}$`) });
  await row.waitFor();
  assert.deepEqual(await cells(), [
    "phoenix",
    "phoenix",
    "down",
    "yes",
    "0",
    "yes",
    "StartDisableRemove",
  ]);
  assert.match(
    await row.locator("td").nth(5).locator("span").getAttribute("title") ?? "",
    /# <img/,
  );
  assert.equal(await page.locator("#tmux-agents img").count(), 0);

  // Start: the row shows it up once the engine says it is.
  await button("Start").click();
  await page.locator("#notice", { hasText: /^phoenix started$/ }).waitFor();
  const up = await agent();
  assert.equal(up.up, true);
  await row.locator("td", { hasText: new RegExp(`^${up.pane} up$`) }).waitFor();
  await button("Start").waitFor({ state: "detached" });

  // Disabled: a message waits in its inbox, and is counted; enabled, it is typed, and the count
  // goes down live.
  await button("Disable").click();
  await button("Enable").waitFor();
  assert.equal((await agent()).enabled, false);
  assert.equal((await cells())[3], "no");
  await call("POST", "/api/messages", { to: "phoenix", body: "while you were away" });
  await waitUntil(async () => (await agent()).unread === 1);
  // (The page reads the list at each message event, which can come before the inbox has it.)
  await page.click("#tabs [data-view=bus]");
  await page.click("#tabs [data-view=engine]");
  await row.locator("td:nth-child(5)", { hasText: /^1$/ }).waitFor();
  await button("Enable").click();
  await button("Disable").waitFor();
  assert.equal((await agent()).enabled, true);
  await row.locator("td:nth-child(5)", { hasText: /^0$/ }).waitFor();
  // Unread drops when the Enter is sent; the reader writes its line a moment later.
  assert.match(
    await waitUntil(async () => (await submissions(typed))[0]),
    /\nwhile you were away\n/,
  );

  // A user sees the agents, not the command, and no buttons.
  const { page: carol, pageErrors: carolErrors } = await newPage(chrome);
  await carol.goto(`${url}/ui/`);
  await signIn(carol, CAROL.username, CAROL.passphrase);
  await carol.locator("#whoami", { hasText: /^carol$/ }).waitFor();
  await carol.click("#tabs [data-view=engine]");
  const carolRow = carol.locator('#tmux-agents tr[data-name="phoenix"]');
  await carolRow.locator("td", { hasText: /^%\d+ up$/ }).waitFor();
  assert.equal(await carolRow.locator("button").count(), 0);
  assert.equal(await carolRow.locator("td").nth(5).textContent(), "yes");
  assert.equal(await carolRow.locator("td").nth(5).locator("span").getAttribute("title"), null);

  // Its session gone: both pages show it down without a reload (a live event).
  await tmux.run("kill-session", "-t", "=phoenix");
  await row.locator("td", { hasText: /^down$/ }).waitFor();
  await carolRow.locator("td", { hasText: /^down$/ }).waitFor();
  await button("Start").waitFor();

  // Remove asks first: dismissed, nothing changes; accepted, it is gone, here and for carol.
  answers.push(false);
  await button("Remove").click();
  assert.equal((await call<{ agents: TmuxAgent[] }>("GET", "/api/tmux-agents")).agents.length, 1);
  answers.push(true);
  await button("Remove").click();
  await row.waitFor({ state: "detached" });
  await carolRow.waitFor({ state: "detached" });
  assert.deepEqual((await call<{ agents: TmuxAgent[] }>("GET", "/api/tmux-agents")).agents, []);
  await page.locator("#tmux-agents-note", { hasText: /^None: / }).waitFor();
  assert.equal(await page.evaluate(() => (globalThis as { pwned?: boolean }).pwned), undefined);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(carolErrors, []);
});
