// The web UI in a real browser (Debian's chromium, driven by playwright-core) against a real
// engine on loopback; and its pages' headers through app.request().
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { Bus } from "../../engine/bus.ts";
import { locateTransport } from "../../engine/paths.ts";
import { tempDir, waitUntil } from "../_helpers.ts";
import { appOnNewTransport } from "./_app.ts";
import { apiAs, BOSS, browser, engineWithBoss, loginStatus, newPage, signIn } from "./_web.ts";

/** A message or a channel, as the API answers it: what the tests here need of it. */
interface Sent {
  id: string;
  channel: string;
}

/** The texts of the messages the page shows, oldest first. */
function shownBodies(page: Page): Promise<string[]> {
  return page.locator("#messages .message .body").allTextContents();
}

Deno.test("the web UI signs in, sends, shows what others send as it arrives, in id order (as text, never markup), shows delivery, and signs out leaving nothing behind", async () => {
  await using dir = await tempDir();
  // Older than the week the page shows at first, and there before the engine started (which
  // leaves such history alone: no event of it reaches the page).
  const { engine, url, root } = await engineWithBoss(dir.path, {
    beforeStart: async (root) => {
      await using lastWeek = await Bus.open(locateTransport({ path: root }, { HOME: dir.path }), {
        env: { USER: "dave" },
        now: () => new Date(Date.now() - 8 * 24 * 3600 * 1000),
      });
      await lastWeek.send({ to: ["boss"], body: "from eight days ago" });
    },
  });
  await using _engine = engine;
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);

  await page.goto(`${url}/`);
  assert.equal(new URL(page.url()).pathname, "/ui/", "/ goes to the UI");
  await page.locator("#login").waitFor();

  // A wrong passphrase: the form says so, and nothing is shown.
  await signIn(page, BOSS.username, "not the passphrase");
  await page.locator("#login-error", { hasText: /Wrong username or passphrase/ }).waitFor();
  assert.ok(await page.isHidden("#app"));

  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#app").waitFor();
  assert.equal(await page.textContent("#whoami"), "boss (admin)");
  await page.locator("#channel-title", { hasText: /^#general$/ }).waitFor();
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();

  // Sent from the page: on the bus, from the signed-in user.
  await page.fill("#send input[name=to]", "carol");
  await page.fill("#send textarea[name=body]", "hello from the browser");
  await page.click("#send button[type=submit]");
  await page.locator("#messages .message").first().waitFor();
  const token = (await (await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(BOSS),
  })).json()).token as string;
  const auth = { Authorization: `Bearer ${token}`, "content-type": "application/json" };
  const listed = await (await fetch(`${url}/api/messages?channel=general`, { headers: auth }))
    .json();
  const sent = listed.messages.find((m: { body: string }) => m.body === "hello from the browser");
  assert.ok(sent, JSON.stringify(listed));
  assert.equal(sent.from, "boss");
  assert.deepEqual(sent.to, ["carol"]);

  // Sent by someone else meanwhile: the page shows it without a reload, as text.
  const markup = `<img src="x" onerror="window.pwned = true">`;
  const posted = await fetch(`${url}/api/messages`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ to: "boss", body: markup }),
  });
  assert.equal(posted.status, 201);
  await posted.body?.cancel();
  await page.locator("#messages .message").nth(1).waitFor();
  assert.deepEqual(await shownBodies(page), ["hello from the browser", markup]);
  assert.equal(await page.locator("#messages img").count(), 0, "no element made from a body");
  assert.equal(await page.evaluate(() => (globalThis as { pwned?: boolean }).pwned), undefined);

  // A message that arrives late with an older id (a git pull, a clock behind) goes where its id
  // puts it; one from a clock an hour ahead hides nothing written after it.
  const late = await Bus.open(locateTransport({ path: root }, { HOME: dir.path }), {
    env: { USER: "dave" },
    now: () => new Date(Date.now() - 60_000),
  });
  await late.send({ to: ["boss"], body: "written a minute ago" });
  await page.locator("#messages .message").nth(2).waitFor();
  assert.deepEqual(await shownBodies(page), [
    "written a minute ago",
    "hello from the browser",
    markup,
  ]);
  await late[Symbol.asyncDispose]();
  const ahead = await Bus.open(locateTransport({ path: root }, { HOME: dir.path }), {
    env: { USER: "erin" },
    now: () => new Date(Date.now() + 3_600_000),
  });
  await ahead.send({ to: ["boss"], body: "from an hour ahead" });
  await ahead[Symbol.asyncDispose]();
  const afterAhead = await fetch(`${url}/api/messages`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ to: "boss", body: "after the one from ahead" }),
  });
  assert.equal(afterAhead.status, 201);
  await afterAhead.body?.cancel();
  await page.locator("#messages .message .body", { hasText: "after the one from ahead" }).waitFor();
  assert.deepEqual((await shownBodies(page)).slice(-2), [
    "after the one from ahead",
    "from an hour ahead",
  ]);

  // Older messages come on demand, at the top; then there are none left to show.
  await page.click("#older");
  await page.locator("#messages .message .body", { hasText: "from eight days ago" }).waitFor();
  assert.equal((await shownBodies(page))[0], "from eight days ago");
  await page.locator("#older").waitFor({ state: "hidden" });

  // Delivery states of the message to carol: she has not read it.
  await page.locator("#messages .message", { hasText: "hello from the browser" })
    .locator("button", { hasText: "delivery" })
    .click();
  await page.locator("#deliveries li").first().waitFor();
  assert.deepEqual(await page.locator("#deliveries li").allTextContents(), ["carol: written"]);

  // A change with the session cookie but without the CSRF token is refused.
  const forged = await page.evaluate(async () => {
    const response = await fetch("/api/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: "carol", body: "forged" }),
    });
    return response.status;
  });
  assert.equal(forged, 403);

  // Signing out ends the session: the form is back, nothing of the session stays in the page,
  // and the session's cookie, replayed, opens nothing.
  await page.click("#tabs [data-view=tokens]");
  await page.fill("#mint input[name=name]", "before signing out");
  await page.click("#mint button[type=submit]");
  await page.locator("#minted-token", { hasText: /\./ }).waitFor();
  const session = (await page.context().cookies()).find((c) =>
    c.name.startsWith("crosstalk_session_")
  );
  assert.ok(session, "a session cookie");
  await page.click("#logout");
  await page.locator("#login").waitFor();
  assert.equal(await page.textContent("#minted-token"), "");
  assert.equal(await page.locator("#messages .message, #tokens tr").count(), 0);
  const replayed = await fetch(`${url}/api/whoami`, {
    headers: { Cookie: `${session.name}=${session.value}` },
  });
  await replayed.body?.cancel();
  assert.equal(replayed.status, 401, "the session's token is revoked");
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI threads replies, runs a task and adds a badge, makes, renames and deletes channels, shows the engine, mints and revokes tokens, changes passphrases, and lets an admin manage users", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  // Prompts and confirmations: the next answer the test gives.
  const answers: (string | boolean)[] = [];
  page.on("dialog", (dialog) => {
    const answer = answers.shift();
    void (answer === false ? dialog.dismiss() : dialog.accept(String(answer ?? "")));
  });
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#channel-title", { hasText: /^#general$/ }).waitFor();

  // A reply sits under what it answers, quoting it.
  await page.fill("#send input[name=to]", "carol");
  await page.fill("#send textarea[name=body]", "the question");
  await page.click("#send button[type=submit]");
  await page.locator("#messages .message").first().locator("button", { hasText: "reply" }).click();
  assert.equal(await page.inputValue("#send input[name=to]"), "boss");
  await page.fill("#send textarea[name=body]", "the answer");
  await page.click("#send button[type=submit]");
  const reply = page.locator("#messages .message.reply");
  await reply.waitFor();
  assert.match(await reply.locator(".quote").textContent() ?? "", /boss: the question/);
  assert.equal(await reply.locator(".body").textContent(), "the answer");

  // The question becomes a task, is claimed and resolved from its panel; its result comes back
  // as a reply. A badge goes on it too.
  const question = page.locator("#messages .message", { hasText: "the question" }).first();
  await question.locator("button", { hasText: "delivery" }).click();
  await page.locator("#task", { hasText: /^not a task$/ }).waitFor();
  await page.click("#task-actions button:text-is('flag as task')");
  await page.locator("#task", { hasText: /^open, flagged by boss$/ }).waitFor();
  await page.click("#task-actions button:text-is('claim')");
  await page.locator("#task", { hasText: /^claimed, flagged by boss, claimed by boss$/ }).waitFor();
  answers.push("it is done");
  await page.click("#task-actions button:text-is('resolve')");
  await page.locator("#task", { hasText: /^completed, .*result: it is done$/ }).waitFor();
  await page.locator("#messages .message .body", { hasText: "Task completed: it is done" })
    .waitFor();
  await page.fill("#add-badge input[name=type]", "importance");
  await page.fill("#add-badge input[name=value]", "high");
  await page.click("#add-badge button[type=submit]");
  await page.locator("#badges li", { hasText: /^importance=high by boss$/ }).waitFor();
  await page.click("#close-details");

  // Rename the channel: the list and the title follow.
  answers.push("team");
  await page.click("#rename-channel");
  await page.locator("#channel-title", { hasText: /^#team$/ }).waitFor();
  await page.locator("#channels button", { hasText: /^#team$/ }).waitFor();

  // The engine: its state and the model it claimed.
  await page.click("#tabs [data-view=engine]");
  await page.locator("#engine-status dd", { hasText: /^running$/ }).waitFor();
  await page.locator("#models tr", { hasText: "test/reply" }).locator("td", { hasText: "claimed" })
    .waitFor();
  await page.locator("#dispatchers li", { hasText: /^a on / }).waitFor();

  // A token minted here is shown once and works; revoked here, it stops working.
  await page.click("#tabs [data-view=tokens]");
  await page.fill("#mint input[name=name]", "for a script");
  await page.click("#mint button[type=submit]");
  await page.locator("#minted-token", { hasText: /\./ }).waitFor();
  const minted = (await page.textContent("#minted-token"))!;
  const whoami = async () => {
    const response = await fetch(`${url}/api/whoami`, {
      headers: { Authorization: `Bearer ${minted}` },
    });
    await response.body?.cancel();
    return response.status;
  };
  assert.equal(await whoami(), 200);
  const tokenRow = page.locator("#tokens tr", { hasText: "for a script" });
  await tokenRow.locator("button", { hasText: "revoke" }).click();
  await tokenRow.waitFor({ state: "detached" });
  assert.equal(await whoami(), 401);

  // An admin makes a user, who signs in elsewhere, sees no Users tab, and changes their
  // passphrase; then the admin deletes them.
  await page.click("#tabs [data-view=users]");
  await page.fill("#new-user input[name=username]", "carol");
  await page.fill("#new-user input[name=passphrase]", "carol's first passphrase");
  await page.click("#new-user button[type=submit]");
  await page.locator("#users tr", { hasText: "carol" }).waitFor();
  const carol = await (await chrome.newContext()).newPage();
  carol.setDefaultTimeout(15_000);
  await carol.goto(`${url}/ui/`);
  await signIn(carol, "carol", "carol's first passphrase");
  await carol.locator("#whoami", { hasText: /^carol$/ }).waitFor();
  assert.ok(await carol.isHidden("#tabs [data-view=users]"), "no Users tab for a user");
  await carol.click("#tabs [data-view=account]");
  await carol.fill("#passphrase input[name=passphrase]", "carol's second passphrase");
  await carol.click("#passphrase button[type=submit]");
  await carol.locator("#notice", { hasText: "Passphrase changed" }).waitFor();
  assert.equal(await loginStatus(url, "carol", "carol's first passphrase"), 401);
  assert.equal(await loginStatus(url, "carol", "carol's second passphrase"), 201);
  answers.push(true);
  await page.locator("#users tr", { hasText: "carol" }).locator("button", { hasText: "delete" })
    .click();
  await page.locator("#users tr", { hasText: "carol" }).waitFor({ state: "detached" });
  assert.equal(await loginStatus(url, "carol", "carol's second passphrase"), 401);
  // Her open page finds its session gone at its next call, and shows the form again.
  await carol.click("#tabs [data-view=tokens]");
  await carol.locator("#login").waitFor();

  // A new channel opens at once; deleting one moves the page to another.
  await page.click("#tabs [data-view=bus]");
  await page.fill("#new-channel input[name=name]", "other");
  await page.click("#new-channel button[type=submit]");
  await page.locator("#channel-title", { hasText: /^#other$/ }).waitFor();
  await page.click("#channels button:text-is('#team')");
  await page.locator("#channel-title", { hasText: /^#team$/ }).waitFor();
  answers.push(true);
  await page.click("#delete-channel");
  await page.locator("#channels button", { hasText: /^#team$/ }).waitFor({ state: "detached" });
  await page.locator("#channel-title", { hasText: /^#other$/ }).waitFor();
  assert.equal(await page.locator("#messages .message").count(), 0);
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI starts a workflow from a checked plan, follows its phases live, shows its steps and opens its result", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path, {
    models: { draft: "reply.sh", merge: "reply.sh", planner: "planner.sh" },
  });
  await using _engine = engine;
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  await page.click("#tabs [data-view=workflows]");
  await page.locator("#workflows tr", { hasText: "none yet" }).waitFor();
  assert.equal(await page.inputValue("#new-workflow input[name=channel]"), "general");
  assert.equal(await page.inputValue("#new-workflow input[name=to]"), "workflow");

  // A plan naming a model the transport does not have: the server's reason, and no plan.
  await page.fill(
    "#new-workflow textarea[name=body]",
    "Name it.\n\n```yaml\nfanout:\n  - to: test/nobody\n    prompt: Hi\n```\n",
  );
  await page.click("#check-plan");
  await page.locator("#workflow-error", {
    hasText: /fanout\[0\]\.to: Unknown model "test\/nobody"/,
  })
    .waitFor();
  assert.ok(await page.isHidden("#checked-plan"));

  // A good plan, checked: shown as the engine read it.
  await page.fill(
    "#new-workflow textarea[name=body]",
    "Name the project.\n\n```yaml\nfanout:\n  - to: draft\n    count: 2\n" +
      "    prompt: Draft a name.\nsynthesize:\n  to: merge\n  prompt: Pick one.\n```\n",
  );
  await page.click("#check-plan");
  await page.locator("#checked-plan").waitFor();
  assert.deepEqual(await page.locator("#checked-plan li").allTextContents(), [
    "fan-out: 2 × draft: Draft a name.",
    "synthesis: merge: Pick one.",
  ]);
  assert.equal(await page.textContent("#workflow-error"), "");

  // Started: the page finds the new workflow and follows it to its end without a reload.
  await page.click("#new-workflow button[type=submit]");
  await page.locator("#workflow-name", { hasText: /^general\.workflow-/ }).waitFor();
  await page.locator("#workflow-phase", { hasText: /^complete$/ }).waitFor();
  await page.locator("#workflow-steps tr", { hasText: "synthesize" }).locator("td", {
    hasText: /^replied by /,
  }).waitFor();
  const steps = await page.locator("#workflow-steps tr").evaluateAll((rows) =>
    rows.map((row) => [...row.children].map((cell) => cell.textContent))
  );
  assert.deepEqual(steps.map((cells) => [cells[0], cells[1], cells[3]]), [
    ["fanout-1", "draft", "replied by test/draft@a"],
    ["fanout-2", "draft", "replied by test/draft@a"],
    ["synthesize", "merge", "replied by test/merge@a"],
  ]);
  assert.deepEqual(await page.locator("#workflow-plan li").allTextContents(), [
    "fan-out: 2 × draft: Draft a name.",
    "synthesis: merge: Pick one.",
  ]);
  await page.locator("#workflows tr", { hasText: "general.workflow-" }).locator(".badge", {
    hasText: /^complete$/,
  }).waitFor();

  // One requested elsewhere, in prose, planned by a model: listed as it starts, and followed.
  const token = (await (await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(BOSS),
  })).json()).token as string;
  const posted = await fetch(`${url}/api/messages`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ to: "planner", body: "Name the other project.", type: "workflow" }),
  });
  assert.equal(posted.status, 201);
  const elsewhere = await posted.json();
  await page.locator("#workflows tr").nth(1).waitFor();
  await page.locator("#workflows .badge", { hasText: /^complete$/ }).nth(1).waitFor();

  // The result of the one started here opens in its channel, with its delivery.
  const { workflows } = await (await fetch(`${url}/api/workflows`, {
    headers: { Authorization: `Bearer ${token}` },
  })).json();
  const started = workflows.find((w: { request: { id: string } }) => w.request.id !== elsewhere.id);
  assert.ok(started?.result, JSON.stringify(workflows));
  await page.click("#workflow-facts button:text-is('sent: open it')");
  await page.locator("#channel-title", { hasText: /^#general$/ }).waitFor();
  await page.locator("#details-id", {
    hasText: `${started.request.channel}/${started.result.id}`,
  }).waitFor();
  const result = page.locator(`#messages .message[data-id="${started.result.id}"]`);
  assert.equal(await result.locator(".head strong").textContent(), "workflow");
  assert.match(
    await result.locator(".body").textContent() ?? "",
    /^reply from test\/merge \(1 messages\) to: Pick one\./,
  );
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI's pages are open, and hold the browser to this origin's script and style", async () => {
  await using dir = await tempDir();
  await using api = await appOnNewTransport(dir.path);
  const { app } = api;

  const root = await app.request("/");
  assert.equal(root.status, 302);
  assert.equal(root.headers.get("location"), "/ui/");
  const page = await app.request("/ui/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
  for (const path of ["/ui/", "/ui/app.js", "/ui/app.css"]) {
    const response = path === "/ui/" ? page : await app.request(path);
    const policy = response.headers.get("content-security-policy") ?? "";
    assert.match(policy, /default-src 'none'/, path);
    assert.match(policy, /script-src 'self'/, path);
    assert.match(policy, /frame-ancestors 'none'/, path);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/, path);
    assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(response.headers.get("x-frame-options"), "DENY", path);
    assert.equal(response.headers.get("referrer-policy"), "no-referrer", path);
    if (response !== page) await response.body?.cancel();
  }
  assert.match(await page.text(), /<script src="\/ui\/app.js" defer><\/script>/);
  const script = await app.request("/ui/app.js");
  assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  // The script makes no element from markup: every text from the bus goes in as text.
  assert.doesNotMatch(
    await script.text(),
    /innerHTML|outerHTML|insertAdjacentHTML|document\.write/,
  );
  // The data behind it is not open.
  assert.equal((await app.request("/api/channels")).status, 401);

  // Crosstalk 8's page addresses send a browser to the same view; an API call stays one.
  const html = { Accept: "text/html,application/xhtml+xml" };
  const redirects: [string, string][] = [
    ["/agents", "/ui/#/engine"],
    ["/settings", "/ui/#/engine"],
    ["/c/design", "/ui/#/c/design"],
    ["/w/0b7c5a52-3f1e-4c55-9a86-1d2e3f405162", "/ui/#/w/0b7c5a52-3f1e-4c55-9a86-1d2e3f405162"],
    ["/c/a%0D%0ASet-Cookie:%20x", "/ui/#/c/a%0D%0ASet-Cookie%3A%20x"],
  ];
  for (const [path, to] of redirects) {
    const response = await app.request(path, { headers: html });
    assert.equal(response.status, 302, path);
    assert.equal(response.headers.get("location"), to, path);
  }
  const apiCall = await app.request("/agents", {
    headers: { ...html, Authorization: "Bearer not-a-token" },
  });
  assert.equal(apiCall.status, 401);
  assert.equal((await app.request("/agents")).status, 401);
});

Deno.test("the web UI searches the bus in every channel or the open one, says what it did not find or could not read, and opens a found message", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  const ops = await call<Sent>("POST", "/api/channels", { name: "ops" });
  const plan = await call<Sent>("POST", "/api/messages", {
    to: "carol",
    body: "The Alpha plan for the launch",
  });
  await call("POST", "/api/messages", { to: "carol", body: "beta only" });
  const notes = await call<Sent>("POST", "/api/messages", {
    to: ["dave", "erin"],
    channel: "ops",
    body: "\nalpha release notes\nand a second line",
  });
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#channel-title", { hasText: /^#general$/ }).waitFor();
  assert.ok(await page.isHidden("#search-results"));

  /** Searches as a user does (Enter in the box) and waits for the answer to this query. */
  const search = async (query: string, where = "every channel") => {
    await page.fill("#search input[name=q]", query);
    await page.press("#search input[name=q]", "Enter");
    await page.locator("#search-summary", { hasText: `Search for “${query}” in ${where}` })
      .waitFor();
  };
  const found = (text: string) => page.locator("#found li", { hasText: text });

  // A word in two channels, in any case: each message with its channel, sender, addressees and
  // first line.
  await search("alpha");
  assert.equal(await page.locator("#found li").count(), 2);
  assert.equal(await found("release notes").locator(".head strong").textContent(), "#ops");
  assert.equal(
    await found("release notes").locator(".head span").textContent(),
    " boss → dave, erin",
  );
  assert.equal(await found("release notes").locator("button").textContent(), "alpha release notes");
  assert.equal(await found("launch").locator(".head strong").textContent(), "#general");
  assert.equal(
    await found("launch").locator("button").textContent(),
    "The Alpha plan for the launch",
  );
  assert.ok(await page.isHidden("#search-note"), "a complete search has no note");

  // Every word must be there, in the body, the sender or the addressees.
  await search("CAROL alpha");
  assert.deepEqual(await page.locator("#found li button").allTextContents(), [
    "The Alpha plan for the launch",
  ]);
  await search("nowhere at all");
  assert.deepEqual(await page.locator("#found li").allTextContents(), ["nothing found"]);

  // A scan that ran out of budget says so, and points at searching the open channel alone;
  // that search names the channel to the server.
  const asked: URL[] = [];
  await page.route(/\/api\/search\?/, async (route) => {
    const request = new URL(route.request().url());
    asked.push(request);
    const answer = await route.fetch();
    // Only the search of every channel runs out.
    const complete = request.searchParams.has("channel");
    await route.fulfill({ response: answer, json: { ...await answer.json(), complete } });
  });
  await search("alpha");
  await page.locator("#search-note", { hasText: /stopped after reading \d+ messages/ }).waitFor();
  assert.match(await page.textContent("#search-note") ?? "", /tick “only this channel”/);
  await page.check("#search input[name=here]");
  await search("alpha", "#general");
  assert.ok(await page.isHidden("#search-note"));
  assert.deepEqual(await page.locator("#found li button").allTextContents(), [
    "The Alpha plan for the launch",
  ]);
  assert.deepEqual(asked.map((u) => u.searchParams.get("channel")), [null, plan.channel]);
  await page.unroute(/\/api\/search\?/);
  await page.uncheck("#search input[name=here]");

  // The server's refusal of an empty search is shown, and no results.
  await page.fill("#search input[name=q]", "   ");
  await page.click("#search button[type=submit]");
  await page.locator("#notice", { hasText: "A search needs at least one word" }).waitFor();
  assert.ok(await page.isHidden("#search-results"));

  // A found message opens in its channel, with its panel; the results stay to open another.
  await search("alpha");
  await found("release notes").locator("button").click();
  await page.locator("#channel-title", { hasText: /^#ops$/ }).waitFor();
  await page.locator("#details-id", { hasText: `${ops.id}/${notes.id}` }).waitFor();
  await page.locator(`#messages .message[data-id="${notes.id}"]`).waitFor();
  await found("launch").locator("button").click();
  await page.locator("#channel-title", { hasText: /^#general$/ }).waitFor();
  await page.locator("#details-id", { hasText: `${plan.channel}/${plan.id}` }).waitFor();
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI lists open tasks across channels, follows them live as they are claimed and resolved, shows resolved ones when asked, and opens a task's message", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  const ops = await call<Sent>("POST", "/api/channels", { name: "ops" });
  const build = await call<Sent>("POST", "/api/messages", {
    to: "carol",
    body: "Fix the build\nit fails on main",
  });
  const keys = await call<Sent>("POST", "/api/messages", {
    to: "dave",
    channel: "ops",
    body: "Rotate the keys",
  });
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  await page.click("#tabs [data-view=tasks]");
  await page.locator("#task-list tr", { hasText: "no open tasks" }).waitFor();

  const taskRow = (title: string) => page.locator("#task-list tr", { hasText: title });
  const cells = (title: string) => taskRow(title).locator("td").allTextContents();

  // Flagged elsewhere: listed as it happens, with who flagged it, for whom and where.
  await call("POST", `/api/messages/${build.channel}/${build.id}/task`, {
    role: "builder",
    cwd: "/srv/app",
  });
  await taskRow("Fix the build").waitFor();
  const open = await cells("Fix the build");
  assert.deepEqual([open[0], open[1], open[2], open[4], open[5]], [
    "Fix the build",
    "open",
    "#general",
    "",
    "builder in /srv/app",
  ]);
  assert.match(open[3] ?? "", /^by boss, \S/);
  await call("POST", `/api/messages/${keys.channel}/${keys.id}/task`, {});
  await taskRow("Rotate the keys").locator("td", { hasText: /^#ops$/ }).waitFor();
  assert.equal(await page.locator("#task-list tr").count(), 2);

  // Claimed, then resolved: the list follows; a resolved task leaves the open list.
  await call("POST", `/api/messages/${build.channel}/${build.id}/task/claim`, {});
  await taskRow("Fix the build").locator("td", { hasText: /^claimed$/ }).waitFor();
  assert.match((await cells("Fix the build"))[4] ?? "", /^by boss, \S/);
  await call("POST", `/api/messages/${build.channel}/${build.id}/task/resolve`, {
    status: "completed",
    result: "fixed on main",
  });
  await taskRow("Fix the build").waitFor({ state: "detached" });
  assert.equal(await page.locator("#task-list tr").count(), 1);
  assert.equal((await cells("Rotate the keys"))[1], "open");

  // All of them, resolved ones too, with their result.
  await page.check("#tasks-all");
  await taskRow("Fix the build").locator("td", { hasText: /^completed fixed on main$/ })
    .waitFor();
  assert.equal(await page.locator("#task-list tr").count(), 2);

  // A task's message opens in its channel, with its panel.
  await taskRow("Rotate the keys").locator("button").click();
  await page.locator("#channel-title", { hasText: /^#ops$/ }).waitFor();
  await page.locator("#details-id", { hasText: `${ops.id}/${keys.id}` }).waitFor();
  await page.locator("#task", { hasText: /^open, flagged by boss$/ }).waitFor();
  assert.deepEqual(pageErrors, []);
});

/** An approval of tool use, as the API answers it: what the test needs of it. */
interface Approval {
  id: string;
  state: string;
  decidedBy?: string;
  reason?: string;
}

Deno.test("the web UI shows tool-use approvals as they are asked, and allows or denies them live", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  const CAROL = { username: "carol", passphrase: "carol's passphrase" };
  await call("POST", "/api/users", CAROL);
  const carol = await apiAs(url, CAROL);
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  assert.ok(await page.isHidden("#approvals-count"), "no count while nothing waits");

  // Asked by two agent sessions while the page shows the bus: the tab counts them.
  const markup = `<img src="x" onerror="window.pwned = true">`;
  const clean = await call<Approval>("POST", "/api/approvals", {
    agent: "claude",
    name: "builder",
    tool: "Bash",
    input: { command: "rm -rf build", description: "Clean the build" },
    cwd: "/srv/app",
  });
  const write = await call<Approval>("POST", "/api/approvals", {
    agent: "claude",
    tool: "Write",
    input: { file_path: "/srv/app/page.html", content: markup },
  });
  await page.locator("#approvals-count", { hasText: /^2$/ }).waitFor();
  assert.equal(await page.title(), "(2) crosstalk");

  // Listed oldest first: who asked, the tool, its input (a command as such, else JSON), where.
  await page.click("#tabs [data-view=approvals]");
  const item = (id: string) => page.locator(`#approval-list li[data-id="${id}"]`);
  await item(write.id).waitFor();
  assert.deepEqual(
    await page.locator("#approval-list li").evaluateAll((items) =>
      items.map((li) => li.getAttribute("data-id"))
    ),
    [clean.id, write.id],
  );
  assert.equal(await item(clean.id).locator(".who").textContent(), "builder");
  assert.equal(await item(clean.id).locator(".tool").textContent(), "Bash");
  assert.equal(await item(clean.id).locator("pre.command").textContent(), "rm -rf build");
  assert.equal(await item(clean.id).locator(".cwd").textContent(), "in /srv/app");
  assert.equal(await item(write.id).locator(".who").textContent(), "claude");
  assert.equal(await item(write.id).locator(".tool").textContent(), "Write");
  assert.equal(
    await item(write.id).locator("pre.input").textContent(),
    JSON.stringify({ file_path: "/srv/app/page.html", content: markup }, null, 2),
  );
  assert.equal(await page.locator("#approval-list img").count(), 0, "no element made from input");

  // Allowed here: gone from the list, allowed by boss.
  await item(clean.id).locator("button", { hasText: "Allow" }).click();
  await item(clean.id).waitFor({ state: "detached" });
  await page.locator("#approvals-count", { hasText: /^1$/ }).waitFor();
  const allowed = await call<Approval>("GET", `/api/approvals/${clean.id}`);
  assert.equal(allowed.state, "allowed");
  assert.equal(allowed.decidedBy, "boss");

  // Denied here with a reason: nothing waits any more.
  await item(write.id).locator("input[name=reason]").fill("write it under build/");
  await item(write.id).locator("button", { hasText: "Deny" }).click();
  await item(write.id).waitFor({ state: "detached" });
  await page.locator("#approvals-count").waitFor({ state: "hidden" });
  await page.locator("#approvals-none").waitFor();
  assert.equal(await page.title(), "crosstalk");
  const denied = await call<Approval>("GET", `/api/approvals/${write.id}`);
  assert.deepEqual([denied.state, denied.decidedBy, denied.reason], [
    "denied",
    "boss",
    "write it under build/",
  ]);

  // Asked and decided elsewhere (the CLI, another page): the page follows without a reload.
  const push = await call<Approval>("POST", "/api/approvals", {
    agent: "claude",
    name: "releaser",
    tool: "Bash",
    input: { command: `echo '${markup}' && git push` },
  });
  await item(push.id).waitFor();
  await page.locator("#approvals-count", { hasText: /^1$/ }).waitFor();
  assert.equal(
    await item(push.id).locator("pre.command").textContent(),
    `echo '${markup}' && git push`,
  );
  await carol("POST", `/api/approvals/${push.id}`, { decision: "allow" });
  await item(push.id).waitFor({ state: "detached" });
  await page.locator("#approvals-count").waitFor({ state: "hidden" });

  // Decided ones too, when asked: each with its state, who decided, and why.
  await page.check("#approvals-all");
  await item(push.id).waitFor();
  const outcome = (id: string) => item(id).locator(".outcome").textContent();
  assert.match(await outcome(clean.id) ?? "", /^allowed by boss, \S/);
  assert.match(await outcome(write.id) ?? "", /^denied by boss, .*: write it under build\/$/);
  assert.match(await outcome(push.id) ?? "", /^allowed by carol, \S/);
  assert.equal(await page.locator("#approval-list button").count(), 0, "nothing left to decide");

  // Decided elsewhere just before the page's own decision: the server's refusal is shown, and
  // the other decision.
  const tag = await call<Approval>("POST", "/api/approvals", {
    agent: "claude",
    tool: "Bash",
    input: { command: "git tag v1" },
  });
  await item(tag.id).locator("button", { hasText: "Allow" }).waitFor();
  await page.route(`**/api/approvals/${tag.id}`, async (route) => {
    await carol("POST", `/api/approvals/${tag.id}`, { decision: "deny", reason: "not yet" });
    await route.continue();
  });
  await item(tag.id).locator("button", { hasText: "Allow" }).click();
  await page.locator("#notice", { hasText: "This approval is denied by carol" }).waitFor();
  await item(tag.id).locator(".outcome", { hasText: /^denied by carol, .*: not yet$/ }).waitFor();
  await page.unroute(`**/api/approvals/${tag.id}`);
  assert.equal((await call<Approval>("GET", `/api/approvals/${tag.id}`)).state, "denied");
  assert.equal(await page.evaluate(() => (globalThis as { pwned?: boolean }).pwned), undefined);
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI's Logs tab shows the last records, follows new ones live, filters them by text and level, and holds them while paused", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  const before = await call<Sent>("POST", "/api/messages", { to: ["carol"], body: "before" });

  // Written before the tab opened: the engine's start and the first message.
  await page.click("#tabs [data-view=logs]");
  const lines = page.locator("#log-lines li");
  await lines.filter({ hasText: / info +api\.listening url=http/ }).waitFor();
  await lines.filter({ hasText: `message.new` }).filter({ hasText: before.id }).waitFor();
  await page.locator("#log-state", { hasText: /^live$/ }).waitFor();
  assert.equal(await lines.filter({ hasText: "api.log_followed by=boss" }).count(), 1);
  assert.match(
    (await lines.filter({ hasText: before.id }).first().textContent())!,
    /^\d\d:\d\d:\d\d info {2}message\.new .*ref=\S+ from=boss to=\["carol"\]/,
  );

  // Written while it shows: it comes at once.
  const live = await call<Sent>("POST", "/api/messages", { to: ["carol"], body: "live" });
  await lines.filter({ hasText: "message.new" }).filter({ hasText: live.id }).waitFor();

  // A filter (any case) hides what does not match, old and new lines alike.
  await page.fill("#log-filter", "MESSAGE.NEW");
  await lines.filter({ hasText: "api.listening" }).waitFor({ state: "hidden" });
  const filtered = await call<Sent>("POST", "/api/messages", { to: ["carol"], body: "filtered" });
  await lines.filter({ hasText: filtered.id }).waitFor();
  const visible = await page.locator("#log-lines li:visible").allTextContents();
  assert.ok(visible.length >= 3, "three messages, three lines");
  assert.ok(visible.every((line) => line.includes("message.new")), visible.join("\n"));
  // By level: warn and up hides these info lines; all shows them again.
  await page.selectOption("#log-level", "warn");
  await lines.filter({ hasText: live.id }).waitFor({ state: "hidden" });
  await page.selectOption("#log-level", "debug");
  await lines.filter({ hasText: live.id }).waitFor();

  // Paused, a new record is held and counted, and shown on resuming.
  await page.click("#log-pause");
  await page.locator("#log-pause", { hasText: /^Resume$/ }).waitFor();
  await page.locator("#log-held", { hasText: /^0 new while paused$/ }).waitFor();
  const held = await call<Sent>("POST", "/api/messages", { to: ["carol"], body: "held" });
  await page.locator("#log-held", { hasText: /^[1-9]\d* new while paused$/ }).waitFor();
  // The page's own state says when the record reached it: nothing on screen does while paused.
  await page.waitForFunction(
    (id) =>
      // @ts-ignore: the page script's top-level state
      state.logs.held.some((record: { ref?: string }) => record.ref?.endsWith(`/${id}`)),
    held.id,
  );
  assert.equal(await lines.filter({ hasText: held.id }).count(), 0);
  await page.click("#log-pause");
  await lines.filter({ hasText: "message.new" }).filter({ hasText: held.id }).waitFor();
  assert.ok(await page.isHidden("#log-held"));
  assert.equal(await page.textContent("#log-pause"), "Pause");
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI lets an admin reset a user's passphrase and make them an admin or not, in the user's row, with no dialog", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  await call("POST", "/api/users", { username: "carol", passphrase: "carol's first passphrase" });
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.click("#tabs [data-view=users]");
  const carol = page.locator("#users tr", { hasText: "carol" });
  await carol.locator("input[name=passphrase]").fill("carol's new passphrase");
  await carol.locator("button", { hasText: "reset passphrase" }).click();
  await page.locator("#notice", { hasText: /^Passphrase of carol changed$/ }).waitFor();
  assert.equal(await carol.locator("input[name=passphrase]").inputValue(), "");
  assert.equal(await loginStatus(url, "carol", "carol's first passphrase"), 401);
  assert.equal(await loginStatus(url, "carol", "carol's new passphrase"), 201);

  // An admin makes carol an admin and takes it back; no such button in their own row.
  await carol.locator("button", { hasText: "make admin" }).click();
  await carol.locator("td", { hasText: /^admin$/ }).waitFor();
  const users = async () =>
    Object.fromEntries(
      (await call<{ users: { username: string; admin: boolean }[] }>("GET", "/api/users")).users
        .map((u) => [u.username, u.admin]),
    );
  assert.equal((await users()).carol, true);
  await carol.locator("button", { hasText: "not admin" }).click();
  await carol.locator("td", { hasText: /^user$/ }).waitFor();
  assert.equal((await users()).carol, false);
  const mine = page.locator("#users tr", { hasText: BOSS.username });
  assert.equal(await mine.locator("button", { hasText: /admin/ }).count(), 0);

  // What the API refuses shows in the notice area.
  await page.route("**/api/users/carol/passphrase", (route) =>
    route.fulfill({
      status: 400,
      contentType: "application/json",
      body: JSON.stringify({ error: { code: "ERR_BODY_INVALID", message: "Refused here" } }),
    }));
  await carol.locator("input[name=passphrase]").fill("yet another passphrase");
  await carol.locator("button", { hasText: "reset passphrase" }).click();
  await page.locator("#notice", { hasText: /^Refused here$/ }).waitFor();
  assert.deepEqual(dialogs, []);
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI keeps what it shows in the address: a link opens a channel, a message or a view, and Back goes back", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  const design = await call<{ id: string }>("POST", "/api/channels", { name: "design" });
  const sent = await call<Sent>("POST", "/api/messages", {
    channel: "design",
    to: "boss",
    body: "the link points here",
  });
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#channel-title", { hasText: /^#general$/ }).waitFor();
  await page.click(`#channels button[data-channel="${design.id}"]`);
  await page.locator("#channel-title", { hasText: /^#design$/ }).waitFor();
  assert.equal(new URL(page.url()).hash, `#/c/${design.id}`);
  await page.click("#tabs [data-view=workflows]");
  assert.equal(new URL(page.url()).hash, "#/workflows");
  await page.goBack();
  await page.locator("#channel-title", { hasText: /^#design$/ }).waitFor();
  assert.equal(await page.locator("main[data-view=bus]").isHidden(), false, "back on the bus");

  // A link to a message, opened fresh: its channel, with the message there.
  await page.goto("about:blank");
  await page.goto(`${url}/ui/#/m/${sent.channel}/${sent.id}`);
  await page.locator("#channel-title", { hasText: /^#design$/ }).waitFor();
  await page.locator("#messages .message", { hasText: "the link points here" }).waitFor();
  await page.goto("about:blank");
  await page.goto(`${url}/ui/#/tokens`);
  await page.locator("section[data-view=tokens]").waitFor();
  await page.goto(`${url}/ui/#/nowhere`);
  await page.locator("#notice", { hasText: "Nothing at #/nowhere" }).waitFor();

  // Crosstalk 8's addresses, by name as it had them, open the same views.
  await page.goto("about:blank");
  await page.goto(`${url}/c/design`);
  await page.locator("#channel-title", { hasText: /^#design$/ }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/ui/");
  await page.goto(`${url}/logs`);
  await page.locator("section[data-view=logs]").waitFor();
  assert.equal(new URL(page.url()).hash, "#/logs");
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI shows a message's task and badges on its row, live and after a reload, counts its replies and shows its thread alone, and lists live agents with their role, model and folder", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  const question = await call<Sent>("POST", "/api/messages", { to: "carol", body: "which port?" });
  await call("POST", "/api/messages", { to: "boss", body: "7000", re: question.id });
  await call("POST", "/api/messages", { to: "carol", body: "an unrelated note" });
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  const row = (body: string) =>
    page.locator("#messages .message", { has: page.locator(".body", { hasText: body }) });
  const chips = (body: string) => row(body).locator(".chips .badge").allTextContents();
  const asked = row("which port?");

  // Replies are counted on what they answer, also one that arrives while the page is open.
  await asked.locator("button.replies", { hasText: /^1 reply$/ }).waitFor();
  assert.equal(await row("an unrelated note").locator("button.replies").isHidden(), true);
  await call("POST", "/api/messages", { to: "boss", body: "7001 then", re: question.id });
  await asked.locator("button.replies", { hasText: /^2 replies$/ }).waitFor();

  // The count shows the thread alone: the message and both replies, each still quoting it.
  await asked.locator("button.replies").click();
  await page.locator("#thread-title", { hasText: /^boss: which port\?$/ }).waitFor();
  await row("an unrelated note").waitFor({ state: "hidden" });
  for (const answer of ["7000", "7001 then"]) {
    assert.equal(await row(answer).isVisible(), true, answer);
    assert.equal(await row(answer).locator(".quote").textContent(), "↩ boss: which port?");
  }
  assert.equal(await asked.isVisible(), true);
  await page.click("#close-thread");
  await row("an unrelated note").waitFor();
  assert.equal(await page.isHidden("#thread"), true);
  // A message sent outside the thread shown alone shows every message again, with it.
  await asked.locator("button.replies").click();
  await row("an unrelated note").waitFor({ state: "hidden" });
  await page.fill("#send input[name=to]", "carol");
  await page.fill("#send textarea[name=body]", "a new topic");
  await page.click("#send button[type=submit]");
  await row("a new topic").waitFor();
  await row("an unrelated note").waitFor();
  assert.equal(await page.isHidden("#thread"), true);

  // Flagged, badged and claimed through the API: its row follows without a reload.
  const path = `/api/messages/${question.channel}/${question.id}`;
  await call("POST", `${path}/task`, { role: "ops" });
  await asked.locator(".chips .badge", { hasText: /^task open$/ }).waitFor();
  await call("POST", `${path}/badges`, { type: "importance", value: "high" });
  await asked.locator(".chips .badge", { hasText: /^importance=high$/ }).waitFor();
  await call("POST", `${path}/task/claim`, {});
  await asked.locator(".chips .badge", { hasText: /^task claimed by boss$/ }).waitFor();
  assert.deepEqual(await chips("which port?"), ["task claimed by boss", "importance=high"]);
  assert.equal(
    await asked.locator(".chips .task-claimed").getAttribute("title"),
    "flagged by boss, for the role ops",
  );
  assert.deepEqual(await chips("an unrelated note"), []);

  // After a reload the row shows the same, read from the server.
  await page.reload();
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
  await asked.locator(".chips .badge", { hasText: /^task claimed by boss$/ }).waitFor();
  await asked.locator(".chips .badge", { hasText: /^importance=high$/ }).waitFor();
  assert.deepEqual(await chips("which port?"), ["task claimed by boss", "importance=high"]);
  await asked.locator("button.replies", { hasText: /^2 replies$/ }).waitFor();

  // Resolved: the chip says so, and the result, a reply, is counted in the thread.
  await call("POST", `${path}/task/resolve`, { status: "completed", result: "port 7000" });
  await asked.locator(".chips .badge", { hasText: /^task completed$/ }).waitFor();
  await asked.locator("button.replies", { hasText: /^3 replies$/ }).waitFor();

  // A live agent registered meanwhile is listed with its role, model and folder.
  const live = await call<{ token: string }>("POST", "/api/live", {
    agent: "claude",
    name: "reviewer",
    model: "opus",
    role: "review",
    cwd: "/srv/app",
  });
  const wake = await fetch(`${url}/api/live/me/wake`, {
    headers: { Authorization: `Bearer ${live.token}` },
  });
  const reader = wake.body!.getReader();
  await reader.read();
  const peer = page.locator("#peers li", { hasText: "reviewer (claude, a)" });
  await peer.locator(".ok", { hasText: "available" }).waitFor();
  assert.equal(await peer.locator(".about").textContent(), "review · opus · /srv/app");
  assert.equal(
    await peer.locator(".about").getAttribute("title"),
    "role: review\nmodel: opus\nfolder: /srv/app",
  );
  await reader.cancel();
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI asks for the task and badges only of the rows in view, and for the others as they are scrolled to", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  const sent: Sent[] = [];
  for (let n = 1; n <= 60; n++) {
    sent.push(await call<Sent>("POST", "/api/messages", { to: "carol", body: `note ${n}` }));
  }
  const flag = (message: Sent) =>
    call("POST", `/api/messages/${message.channel}/${message.id}/task`, {});
  await flag(sent[0]!);
  await flag(sent[59]!);
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  // The ids each annotations request asked for, and any status request (there must be none).
  const asked: string[][] = [];
  const statuses: string[] = [];
  page.on("request", (request) => {
    if (request.url().endsWith("/annotations")) asked.push(request.postDataJSON().ids);
    if (request.url().endsWith("/status")) statuses.push(request.url());
  });
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  const row = (body: string) =>
    page.locator("#messages .message", {
      has: page.locator(".body", { hasText: new RegExp(`^${body}$`) }),
    });

  // The newest, in view at the bottom, shows its task; the oldest, far above, was not asked for.
  await row("note 60").locator(".chips .badge", { hasText: /^task open$/ }).waitFor();
  const inView = asked.flat().length;
  assert.ok(inView > 0 && inView < 30, `${inView} rows asked for`);
  assert.equal(await row("note 1").locator(".chips .badge").count(), 0);
  assert.ok(!asked.flat().includes(sent[0]!.id));

  // Scrolled to, it is.
  await row("note 1").scrollIntoViewIfNeeded();
  await row("note 1").locator(".chips .badge", { hasText: /^task open$/ }).waitFor();
  assert.ok(asked.flat().includes(sent[0]!.id));
  assert.deepEqual(statuses, []);
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI reads the task and badges of the rows in view with one annotations request, not a status request per row", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const call = await apiAs(url, BOSS);
  const send = (body: string) => call<Sent>("POST", "/api/messages", { to: "carol", body });
  const at = (message: Sent) => `/api/messages/${message.channel}/${message.id}`;
  const open = await send("an open task");
  await call("POST", `${at(open)}/task`, {});
  const claimed = await send("a claimed task");
  await call("POST", `${at(claimed)}/task`, { role: "ops" });
  await call("POST", `${at(claimed)}/task/claim`, {});
  const badged = await send("two badges");
  await call("POST", `${at(badged)}/badges`, { type: "importance", value: "high" });
  await call("POST", `${at(badged)}/badges`, { type: "question" });
  const both = await send("a task with a badge");
  await call("POST", `${at(both)}/task`, {});
  await call("POST", `${at(both)}/badges`, { type: "commit", value: "abc123" });
  await send("nothing on it");
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  const annotations: string[][] = [];
  const statuses: string[] = [];
  page.on("request", (request) => {
    if (request.url().endsWith("/annotations")) annotations.push(request.postDataJSON().ids);
    if (request.url().endsWith("/status")) statuses.push(request.url());
  });
  // The listing waits for the event stream: once it is live, the page has no reason to read
  // the rows again (it does after the stream (re)connects, for events it may have missed).
  await page.route(
    (u) => u.pathname === "/api/messages" && u.searchParams.has("channel"),
    async (route) => {
      await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
      await route.continue();
    },
  );
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  const chips = (body: string) =>
    page.locator("#messages .message", { has: page.locator(".body", { hasText: body }) })
      .locator(".chips .badge");

  await chips("a task with a badge").nth(1).waitFor();
  await chips("two badges").nth(1).waitFor();
  assert.deepEqual(await chips("an open task").allTextContents(), ["task open"]);
  assert.deepEqual(await chips("a claimed task").allTextContents(), ["task claimed by boss"]);
  assert.deepEqual(
    (await chips("two badges").allTextContents()).sort(),
    ["importance=high", "question"],
  );
  assert.deepEqual(await chips("a task with a badge").allTextContents(), [
    "task open",
    "commit=abc123",
  ]);
  assert.deepEqual(await chips("nothing on it").allTextContents(), []);
  assert.equal(annotations.length, 1, JSON.stringify(annotations));
  assert.equal(annotations[0]!.length, 5);
  assert.equal(statuses.length, 0, JSON.stringify(statuses));

  // The delivery panel still reads the whole status of its message.
  await page.locator("#messages .message", { hasText: "a claimed task" }).locator(
    "button",
    { hasText: /^delivery$/ },
  ).click();
  await page.locator("#deliveries li", { hasText: /^carol: / }).waitFor();
  assert.equal(statuses.length, 1);
  assert.ok(statuses[0]!.endsWith(`${claimed.id}/status`));
  assert.equal(annotations.length, 1);
  assert.deepEqual(pageErrors, []);
});

Deno.test("the web UI notifies, when asked and only while it is in the background, of a message to you", async () => {
  await using dir = await tempDir();
  const { engine, url } = await engineWithBoss(dir.path);
  await using _engine = engine;
  const boss = await apiAs(url, BOSS);
  await boss("POST", "/api/users", { username: "carol", passphrase: "carol's passphrase" });
  const carol = await apiAs(url, { username: "carol", passphrase: "carol's passphrase" });
  await using chrome = await browser();
  const { page, pageErrors } = await newPage(chrome);
  // The desktop notification itself is the system's: the page's calls to it are what is seen.
  await page.addInitScript(() => {
    const w = window as unknown as Record<string, unknown>;
    w.shown = [];
    w.background = false;
    w.Notification = class {
      static permission = "default";
      static requestPermission() {
        (w.Notification as { permission: string }).permission = "granted";
        return Promise.resolve("granted");
      }
      constructor(title: string, options: { body: string }) {
        (w.shown as string[][]).push([title, options.body]);
      }
    };
    const page = (globalThis as unknown as { document: object }).document;
    Object.defineProperty(page, "hidden", { get: () => w.background });
  });
  const shown = () => page.evaluate(() => (window as unknown as { shown: string[][] }).shown);
  const background = (on: boolean) =>
    page.evaluate((on) => (window as unknown as { background: boolean }).background = on, on);
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#channel-title", { hasText: /^#general$/ }).waitFor();

  // Not asked for: nothing, even in the background.
  await background(true);
  await carol("POST", "/api/messages", { to: "boss", body: "first" });
  await page.locator("#messages .message", { hasText: "first" }).waitFor();
  assert.deepEqual(await shown(), []);

  await page.check("#notify");
  await carol("POST", "/api/messages", { to: "boss", body: "second" });
  await page.locator("#messages .message", { hasText: "second" }).waitFor();
  await waitUntil(async () => (await shown()).length > 0 || undefined);
  assert.deepEqual(await shown(), [["crosstalk: carol", "wrote to you in #general"]]);

  // Looked at, or to someone else: no notification.
  await background(false);
  await carol("POST", "/api/messages", { to: "boss", body: "third" });
  await page.locator("#messages .message", { hasText: "third" }).waitFor();
  await background(true);
  await carol("POST", "/api/messages", { to: "someone", body: "fourth" });
  await page.locator("#messages .message", { hasText: "fourth" }).waitFor();
  assert.equal((await shown()).length, 1);
  assert.deepEqual(pageErrors, []);
});
