// The web UI's Find panes (the Engine tab's tmux agents) in a real browser (Debian's chromium,
// driven by playwright-core) against a real engine on loopback and a real private tmux server whose
// panes run programs named like agent CLIs (they only wait).
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { tempDir, waitUntil } from "../_helpers.ts";
import { TmuxServer } from "../_tmux.ts";
import { apiAs, BOSS, browser, engineWithBoss, newPage, signIn } from "./_web.ts";

const CAROL = { username: "carol", passphrase: "carol's passphrase" };

interface TmuxAgent {
  name: string;
  target: string;
  agent: string;
  socket?: string;
  up: boolean;
}

/** Asks for the panes of the tmux server of `socket` (empty: the engine's default one). */
async function findPanes(page: Page, socket: string): Promise<void> {
  await page.fill("#tmux-find input[name=socket]", socket);
  await page.click("#tmux-find button", { noWaitAfter: true });
  await page.locator("#tmux-find button:enabled").waitFor();
}

Deno.test("the web UI finds the panes of a tmux server for an admin: the free ones added under the names chosen, the others greyed with why, the API's errors in the panel's note, and no button for a user", async () => {
  await using dir = await tempDir();
  const folder = await Deno.realPath(dir.path);
  await using tmux = new TmuxServer(dir.path);
  const aider = await tmux.program("aider", "aider", folder);
  const claude = await tmux.program("claude-app", "claude", folder);
  const grok = await tmux.program("typed", "grok", folder);
  await tmux.run("set-option", "-gw", "remain-on-exit", "on");
  const dead = await tmux.run(
    ...["new-session", "-d", "-s", "zz", "-P", "-F", "#{pane_id}", "--", "true"],
  );
  await waitUntil(async () =>
    (await tmux.run("display-message", "-p", "-t", dead, "#{pane_dead}")) === "1"
  );
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  await call("POST", "/api/users", CAROL);
  await call("POST", "/api/tmux-agents", { name: "typist", target: "typed", socket: tmux.socket });

  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  await page.click("#tabs [data-view=engine]");
  await page.locator('#tmux-agents tr[data-name="typist"]').waitFor();
  const note = page.locator("#tmux-agents-note");

  // The API's refusals, in its words: a socket that is not an absolute path, and no server there.
  await findPanes(page, "tmux.sock");
  await note.filter({ hasText: /Invalid tmux socket/ }).waitFor();
  assert.equal(
    await note.textContent(),
    `Invalid tmux socket "tmux.sock": an absolute path without ".."`,
  );
  assert.equal(await page.locator("#tmux-candidates-table").isVisible(), false);
  const nowhere = join(dir.path, "none.sock");
  await findPanes(page, nowhere);
  await note.filter({ hasText: /No tmux panes/ }).waitFor();
  assert.equal(await note.textContent(), `No tmux panes: no tmux server runs on ${nowhere}`);

  // The panes of the server: the free ones with a name to register them under, the others greyed.
  await findPanes(page, tmux.socket);
  await page.locator("#tmux-candidates-table").waitFor();
  assert.equal(await note.isVisible(), false);
  const pane = (id: string) => page.locator(`#tmux-candidates tr[data-pane="${id}"]`);
  const cells = (id: string) => pane(id).locator("td").allTextContents();
  const name = (id: string) => pane(id).locator("input[name=name]");
  const add = (id: string) => pane(id).locator("button", { hasText: /^Add$/ });
  assert.deepEqual(
    await page.locator("#tmux-candidates tr").evaluateAll((rows) =>
      rows.map((row) => row.getAttribute("data-pane"))
    ),
    [aider, claude, grok, dead],
  );
  assert.deepEqual(await cells(aider), [aider, "aider", "aider", "aider", folder, "Add"]);
  assert.equal(await name(aider).inputValue(), "aider");
  assert.deepEqual(await cells(claude), [claude, "claude-app", "claude", "claude", folder, "Add"]);
  assert.equal(await name(claude).inputValue(), "claude-app");
  assert.deepEqual(await cells(grok), [
    grok,
    "typed",
    "grok",
    "grok",
    folder,
    "registered as typist",
  ]);
  assert.deepEqual(await cells(dead), [dead, "zz", "tmux", "true", "", "dead"]);
  for (const id of [aider, claude]) {
    assert.equal(await pane(id).getAttribute("class"), null);
  }
  for (const id of [grok, dead]) {
    assert.equal(await pane(id).getAttribute("class"), "muted");
    assert.equal(await pane(id).locator("input, button").count(), 0);
  }

  // A name the engine refuses: its reason in the note, the name there to be changed.
  await name(claude).fill("typist");
  await add(claude).click();
  await note.filter({ hasText: /typist/ }).waitFor();
  assert.equal(
    await note.textContent(),
    `A tmux agent "typist" is registered already (remove it first)`,
  );
  await pane(claude).locator("button:enabled", { hasText: /^Add$/ }).waitFor();
  assert.equal(await name(claude).isEditable(), true);

  // Renamed, then added; the other under the name proposed: the rows say so, and the list of
  // agents has them without a reload.
  await name(claude).fill("claude");
  await add(claude).click();
  await pane(claude).locator("td", { hasText: /^added as claude$/ }).waitFor();
  assert.equal(await note.isVisible(), false);
  await page.locator('#tmux-agents tr[data-name="claude"]').waitFor();
  await add(aider).click();
  await pane(aider).locator("td", { hasText: /^added as aider$/ }).waitFor();
  await page.locator('#tmux-agents tr[data-name="aider"]').waitFor();
  const { agents } = await call<{ agents: TmuxAgent[] }>("GET", "/api/tmux-agents");
  assert.deepEqual(
    agents.map(({ name, target, agent, socket }) => ({ name, target, agent, socket }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: "aider", target: "aider", agent: "aider", socket: tmux.socket },
      { name: "claude", target: "claude-app", agent: "claude", socket: tmux.socket },
      { name: "typist", target: "typed", agent: "tmux", socket: tmux.socket },
    ],
  );

  // Found again, every pane is taken.
  await findPanes(page, tmux.socket);
  await pane(claude).locator("td", { hasText: /^registered as claude$/ }).waitFor();
  assert.equal((await cells(aider))[5], "registered as aider");
  assert.equal(await page.locator("#tmux-candidates input").count(), 0);

  // A user sees the agents, and no way to find panes.
  const { page: carol, pageErrors: carolErrors } = await newPage(chrome);
  await carol.goto(`${url}/ui/`);
  await signIn(carol, CAROL.username, CAROL.passphrase);
  await carol.locator("#whoami", { hasText: /^carol$/ }).waitFor();
  await carol.click("#tabs [data-view=engine]");
  await carol.locator('#tmux-agents tr[data-name="claude"]').waitFor();
  assert.equal(await carol.locator("#tmux-find").isVisible(), false);
  assert.equal(await carol.getByRole("button", { name: "Find panes" }).count(), 0);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(carolErrors, []);
});
