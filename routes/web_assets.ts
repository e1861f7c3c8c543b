// The web UI's page, script and style (see routes/web.ts). Plain DOM, no framework: every text
// from the bus goes in with textContent, never as markup (a message's markdown is made into
// elements and text nodes, see markdown()).

/** The page: a sign-in form, and the bus once signed in. */
export const WEB_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crosstalk</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<form id="login" hidden>
  <h1>crosstalk</h1>
  <label>Username <input name="username" autocomplete="username" required></label>
  <label>Passphrase <input name="passphrase" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
  <p class="error" id="login-error" role="alert"></p>
</form>
<div id="app" hidden>
  <header>
    <strong>crosstalk</strong>
    <span id="live-state" class="muted"></span>
    <span role="tablist" id="tabs">
      <button type="button" role="tab" data-view="bus">Bus</button>
      <button type="button" role="tab" data-view="tasks">Tasks</button>
      <button type="button" role="tab" data-view="approvals">Approvals <span id="approvals-count" class="badge count" hidden></span></button>
      <button type="button" role="tab" data-view="workflows">Workflows</button>
      <button type="button" role="tab" data-view="engine">Engine</button>
      <button type="button" role="tab" data-view="logs">Logs</button>
      <button type="button" role="tab" data-view="tokens">Tokens</button>
      <button type="button" role="tab" data-view="account">Account</button>
      <button type="button" role="tab" data-view="users" hidden>Users</button>
    </span>
    <span class="spacer"></span>
    <form id="search" role="search">
      <input name="q" type="search" placeholder="search the bus" aria-label="Search words">
      <label><input name="here" type="checkbox"> only this channel</label>
      <button type="submit">Search</button>
    </form>
    <label id="notify-choice" hidden title="a desktop notification, while this tab is in the background, for a message to you, an approval asked, a workflow ended"><input id="notify" type="checkbox"> notify me</label>
    <span id="whoami"></span>
    <button id="logout" type="button">Sign out</button>
  </header>
  <nav data-view="bus">
    <h2>Channels</h2>
    <ul id="channels"></ul>
    <form id="new-channel">
      <input name="name" placeholder="new channel" aria-label="New channel name" required>
      <button type="submit">Add</button>
    </form>
    <h2>Peers</h2>
    <ul id="peers"></ul>
  </nav>
  <main data-view="bus">
    <h2><span id="channel-title"></span>
      <button type="button" class="link" id="rename-channel">rename</button>
      <button type="button" class="link" id="delete-channel">delete</button></h2>
    <div id="search-results" hidden>
      <h2><span id="search-summary"></span> <button type="button" class="link" id="close-search">close</button></h2>
      <p id="search-note" class="muted" hidden></p>
      <ol id="found"></ol>
    </div>
    <p id="thread" hidden>Thread of <span id="thread-title"></span> <button type="button" class="link" id="close-thread">show all messages</button></p>
    <ol id="messages"><li id="older-row"><button type="button" class="link" id="older">show older messages</button></li></ol>
    <form id="send">
      <p id="replying" hidden>Replying to <span id="replying-to"></span> <button type="button" id="cancel-reply">cancel</button></p>
      <input name="to" placeholder="to (names, comma-separated, or all), or @mention in the text" aria-label="To">
      <input name="exclude" placeholder="except (names, comma-separated; optional)" aria-label="Except">
      <textarea name="body" rows="3" placeholder="message (markdown)" aria-label="Message" required></textarea>
      <button type="submit">Send</button>
      <p class="error" id="send-error" role="alert"></p>
    </form>
  </main>
  <section data-view="tasks" hidden>
    <h2>Tasks</h2>
    <label><input type="checkbox" id="tasks-all"> show resolved tasks too</label>
    <table><thead><tr><th>task</th><th>state</th><th>channel</th><th>flagged</th><th>claimed</th><th>for</th></tr></thead><tbody id="task-list"></tbody></table>
  </section>
  <section data-view="approvals" hidden>
    <h2>Approvals</h2>
    <p class="muted">Agent sessions ask here before they use a tool; without a decision in time, they ask in their terminal.</p>
    <label><input type="checkbox" id="approvals-all"> show decided too</label>
    <p id="approvals-none" class="muted">Nothing waits for a decision.</p>
    <ol id="approval-list"></ol>
  </section>
  <section data-view="workflows" class="columns" hidden>
    <div>
      <h2>New workflow</h2>
      <form id="new-workflow">
        <input name="channel" value="general" list="workflow-channels" placeholder="channel" aria-label="Channel" required>
        <datalist id="workflow-channels"></datalist>
        <input name="to" value="workflow" placeholder="to (workflow, or a model that plans it)" aria-label="To" required>
        <textarea name="body" rows="10" placeholder="the request: prose (Compose has a model plan it), and/or a plan in a fenced yaml block" aria-label="Request" required></textarea>
        <p><button type="button" id="compose-plan" title="Have a model (to, or the first model) write a plan for the text, to review and edit">Compose</button> <button type="button" id="check-plan">Check plan</button> <button type="submit">Start</button></p>
        <p class="error" id="workflow-error" role="alert"></p>
        <div id="checked-plan" hidden><h3>The plan</h3><ul id="checked-plan-list"></ul></div>
      </form>
      <h2>Workflows</h2>
      <table><thead><tr><th>name</th><th>phase</th><th>created</th></tr></thead><tbody id="workflows"></tbody></table>
    </div>
    <div id="workflow" hidden>
      <h2><span id="workflow-name"></span> <span id="workflow-phase" class="badge"></span></h2>
      <dl id="workflow-facts"></dl>
      <h3>Plan</h3>
      <ul id="workflow-plan"></ul>
      <h3>Steps</h3>
      <table><thead><tr><th>step</th><th>to</th><th>sent</th><th>state</th></tr></thead><tbody id="workflow-steps"></tbody></table>
    </div>
  </section>
  <section data-view="engine" hidden>
    <h2>Engine</h2>
    <dl id="engine-status"></dl>
    <h2>Models</h2>
    <table><thead><tr><th>model</th><th>command</th><th>here</th></tr></thead><tbody id="models"></tbody></table>
    <h2>Agent CLIs installed here</h2>
    <ul id="installed"></ul>
    <h2>Engines of the transport</h2>
    <ul id="dispatchers"></ul>
    <h2>Tmux agents of this machine</h2>
    <p id="tmux-agents-note" class="muted" hidden></p>
    <table id="tmux-agents-table"><thead><tr><th>agent</th><th>target</th><th>pane</th><th>enabled</th><th>unread</th><th>revive</th><th></th></tr></thead><tbody id="tmux-agents"></tbody></table>
    <form id="tmux-find" hidden>
      <input name="socket" placeholder="tmux socket (empty: the engine's default server)" aria-label="Tmux socket">
      <button type="submit">Find panes</button>
    </form>
    <div class="scroll-x"><table id="tmux-candidates-table" hidden><thead><tr><th>pane</th><th>target</th><th>agent</th><th>command</th><th>folder</th><th>name</th></tr></thead><tbody id="tmux-candidates"></tbody></table></div>
  </section>
  <section data-view="logs" hidden>
    <h2>Logs <span id="log-state" class="muted"></span></h2>
    <p class="log-controls">
      <input id="log-filter" type="search" placeholder="filter" aria-label="Show only lines with">
      <select id="log-level" aria-label="Levels">
        <option value="debug">all</option><option value="info">info+</option><option value="warn">warn+</option><option value="error">error</option>
      </select>
      <button type="button" id="log-pause">Pause</button>
      <span id="log-held" class="muted" hidden></span>
    </p>
    <ol id="log-lines"></ol>
  </section>
  <section data-view="tokens" hidden>
    <h2>API tokens</h2>
    <form id="mint">
      <input name="name" placeholder="token name" aria-label="Token name" required>
      <input name="days" type="number" min="1" max="3650" value="90" aria-label="Days valid">
      <button type="submit">Mint</button>
    </form>
    <p id="minted" hidden>Copy it now, it is shown once: <code id="minted-token"></code></p>
    <table><thead><tr><th>name</th><th>user</th><th>expires</th><th>last used</th><th></th></tr></thead><tbody id="tokens"></tbody></table>
  </section>
  <section data-view="account" hidden>
    <h2>Change your passphrase</h2>
    <form id="passphrase">
      <input name="passphrase" type="password" autocomplete="new-password" placeholder="new passphrase (8 or more characters)" aria-label="New passphrase" required minlength="8">
      <button type="submit">Change</button>
    </form>
  </section>
  <section data-view="users" hidden>
    <h2>Users</h2>
    <form id="new-user">
      <input name="username" placeholder="username" aria-label="Username" required>
      <input name="passphrase" type="password" autocomplete="new-password" placeholder="passphrase" aria-label="Passphrase" required minlength="8">
      <label><input name="admin" type="checkbox"> admin</label>
      <button type="submit">Create</button>
    </form>
    <table><thead><tr><th>user</th><th>role</th><th>created</th><th></th></tr></thead><tbody id="users"></tbody></table>
  </section>
  <p class="notice" id="notice" role="status"></p>
  <aside id="details" hidden>
    <h2>Delivery</h2>
    <p id="details-id" class="muted"></p>
    <ul id="deliveries"></ul>
    <h2>Task</h2>
    <p id="task"></p>
    <p id="task-actions"></p>
    <h2>Badges</h2>
    <ul id="badges"></ul>
    <form id="add-badge">
      <input name="type" placeholder="type (importance, question…)" aria-label="Badge type" required>
      <input name="value" placeholder="value" aria-label="Badge value">
      <button type="submit">Add badge</button>
    </form>
    <button type="button" id="close-details">close</button>
  </aside>
</div>
</body>
</html>
`;

/** The script: sign-in, channels, messages (live over SSE), sending, delivery states. */
export const WEB_JS = `"use strict";
const $ = (id) => document.getElementById(id);
const state = {
  csrf: "", me: "", admin: false, view: "bus", channel: null, last: null, shown: new Map(),
  re: null, events: null, open: null, deliveryRequest: 0, channels: [], workflow: null,
  pendingWorkflow: null, searchRequest: 0, approvals: new Map(), approvalItems: new Map(),
  approvalsTouched: null, logs: null, navigating: false, at: "",
  // The open channel's rows (id to item), replies (id to the ids answering it), the thread shown
  // alone (its first message's id), and each row's task and badges (see loadNotes).
  items: new Map(), replies: new Map(), thread: null, notes: new Map(), notesQueue: new Set(),
  inView: new Set(),
  // The Engine tab's tmux agents: a read under way, another one due after it, a generation that a
  // sign-out moves on (an answer for an older one is dropped), and the panel's note: what the list
  // says and what finding or adding panes says, each kept when the other changes.
  tmux: { loading: false, again: false, generation: 0, notes: { list: "", find: "" } },
};
/** How many log lines the page keeps, and how many records it loads when the Logs tab opens. */
const LOG_KEEP = 2000;
const LOG_FIRST = 200;
const LOG_LEVELS = ["debug", "info", "warn", "error"];
/** How far back each new listing looks again, for messages whose clock was behind (ms). */
const RELIST_MS = 5 * 60 * 1000;
/** How often, and how many times, the list is read again for a workflow just requested. */
const PENDING_MS = 1000;
const PENDING_TRIES = 60;
/**
 * How many rows' task and badges one request asks for (POST …/annotations takes at most 200), and
 * how many such requests run at once.
 */
const NOTES_BATCH = 200;
const NOTES_AT_ONCE = 2;
let notesRunning = 0;
let notesDue = false;

/** The rows in view (and a little beyond): only they ask for their task and badges. */
const seen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const id = entry.target.dataset.id;
    if (state.items.get(id) !== entry.target) continue;
    if (entry.isIntersecting) {
      state.inView.add(id);
      wantNotes(id);
    } else {
      state.inView.delete(id);
    }
  }
}, { root: document.getElementById("messages"), rootMargin: "200px 0px" });

/** This engine's CSRF cookie (engines on one host each have their own). */
const CSRF_COOKIE = document.querySelector('meta[name="crosstalk-csrf-cookie"]')?.content ?? "";

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // Read at each change: a sign-in in another tab replaces the cookie.
  if (method !== "GET") headers["X-CSRF-Token"] = cookie(CSRF_COOKIE) || state.csrf;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  // A session that ended (signed out elsewhere, expired): back to the form.
  if (response.status === 401 && path !== "/session") signedOut();
  if (!response.ok) throw new Error(data.error ? data.error.message : "HTTP " + response.status);
  return data;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

/** Back to the sign-in form, with nothing of the last session left in the page. */
function signedOut() {
  if (state.events) state.events.close();
  closeLogs();
  if (state.pendingWorkflow) clearTimeout(state.pendingWorkflow.timer);
  Object.assign(state, {
    csrf: "", me: "", admin: false, channel: null, last: null, shown: new Map(), re: null,
    events: null, open: null, deliveryRequest: state.deliveryRequest + 1, channels: [],
    workflow: null, pendingWorkflow: null, searchRequest: state.searchRequest + 1,
    approvals: new Map(), approvalItems: new Map(), approvalsTouched: null, at: "",
    items: new Map(), replies: new Map(), thread: null, notes: new Map(), notesQueue: new Set(),
    inView: new Set(),
    tmux: { loading: false, again: false, generation: state.tmux.generation + 1, notes: { list: "", find: "" } },
  });
  seen.disconnect();
  $("thread").hidden = true;
  for (const id of ["channels", "peers", "messages", "deliveries", "tokens", "users", "models", "installed", "dispatchers", "engine-status", "workflows", "workflow-facts", "workflow-plan", "workflow-steps", "checked-plan-list", "workflow-channels", "found", "task-list", "log-lines", "tmux-agents"]) {
    $(id).replaceChildren();
  }
  $("tmux-agents-note").hidden = true;
  $("tmux-find").reset();
  $("tmux-find").hidden = true;
  $("tmux-candidates").replaceChildren();
  $("tmux-candidates-table").hidden = true;
  forgetMinted();
  $("search").reset();
  $("search-results").hidden = true;
  $("tasks-all").checked = false;
  $("log-filter").value = "";
  $("log-level").value = "debug";
  $("approvals-all").checked = false;
  showApprovals();
  $("new-workflow").reset();
  $("workflow-error").textContent = "";
  $("checked-plan").hidden = true;
  $("workflow").hidden = true;
  $("details").hidden = true;
  $("app").hidden = true;
  $("login").hidden = false;
}

function forgetMinted() {
  $("minted-token").textContent = "";
  $("minted").hidden = true;
}

async function start() {
  state.csrf = cookie(CSRF_COOKIE);
  try {
    const me = await api("GET", "/api/whoami");
    state.me = me.subject;
    state.admin = me.admin;
  } catch {
    signedOut();
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("whoami").textContent = state.me + (state.admin ? " (admin)" : "");
  document.querySelector("#tabs [data-view=users]").hidden = !state.admin;
  $("tmux-find").hidden = !state.admin;
  follow();
  setUpNotify();
  // A link to a view, a channel, a message or a workflow opens it; without one, the bus.
  const linked = location.hash;
  state.navigating = true;
  show("bus");
  await Promise.all([loadChannels(), loadPeers()]).catch(showNotice);
  state.navigating = false;
  if (linked.length > 2) await navigate(linked);
  else remember(state.channel ? "#/c/" + state.channel.id : "#/bus");
}

const VIEWS = ["bus", "tasks", "approvals", "workflows", "engine", "logs", "tokens", "account", "users"];

/**
 * Puts what is shown in the address, so that it can be bookmarked, shared or reopened with Back:
 * #/c/<channel>, #/m/<channel>/<message id>, #/w/<workflow's channel>, or #/<view>.
 */
function remember(hash) {
  if (state.navigating || location.hash === hash) return;
  history.pushState(null, "", hash);
  state.at = hash;
}

/** Opens what an address names (a link followed, Back or Forward). */
async function navigate(hash) {
  if (hash === state.at) return;
  state.at = hash;
  const [kind, first, ...rest] = hash.replace(/^#[/]?/, "").split("/").map(decodeURIComponent);
  state.navigating = true;
  try {
    if (kind === "c" && first) await openMessage(first);
    else if (kind === "m" && first && rest.length > 0) await openMessage(first, rest.join("/"));
    else if (kind === "w" && first) {
      show("workflows");
      await openWorkflow(first);
    } else if (VIEWS.includes(kind) && (kind !== "users" || state.admin)) show(kind);
    else notice("Nothing at " + hash);
  } catch (error) {
    showNotice(error);
  } finally {
    state.navigating = false;
  }
}

window.addEventListener("popstate", () => {
  if (state.me) navigate(location.hash);
});

/**
 * Shows one view (bus, tasks, approvals, workflows, engine, logs, tokens, account, users) and loads what
 * it lists.
 */
function show(view) {
  state.view = view;
  if (view !== "bus") remember("#/" + view);
  else if (state.channel && state.channel.name) remember("#/c/" + state.channel.id);
  for (const node of document.querySelectorAll("#app [data-view]")) {
    if (node.parentElement.id === "tabs") node.classList.toggle("current", node.dataset.view === view);
    else node.hidden = node.dataset.view !== view;
  }
  $("details").hidden = view !== "bus" || !state.open;
  if (view !== "tokens") forgetMinted();
  if (view !== "logs") closeLogs();
  else if (!state.logs) openLogs();
  notice("");
  if (view === "tasks") refreshTasks();
  if (view === "approvals") refreshApprovals();
  if (view === "workflows") refreshWorkflows();
  if (view === "engine") {
    loadEngine().catch(showNotice);
    refreshTmuxAgents();
  }
  if (view === "tokens") loadTokens().catch(showNotice);
  if (view === "users") loadUsers().catch(showNotice);
}

function notice(text) {
  $("notice").textContent = text;
}

function showNotice(error) {
  notice(error.message);
}

function row(cells) {
  const tr = el("tr");
  for (const cell of cells) {
    const td = el("td");
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell;
    tr.append(td);
  }
  return tr;
}

function action(label, run) {
  const button = el("button", label, "link");
  button.type = "button";
  button.addEventListener("click", () => run().catch(showNotice));
  return button;
}

async function loadEngine() {
  const [status, agents, dispatchers] = await Promise.all([
    api("GET", "/api/status"),
    api("GET", "/api/agents"),
    api("GET", "/api/dispatchers"),
  ]);
  const facts = $("engine-status");
  facts.replaceChildren();
  const engine = status.status || {};
  const add = (term, value) => {
    if (value === undefined || value === null || value === "") return;
    facts.append(el("dt", term), el("dd", String(value)));
  };
  add("state", status.state);
  add("machine", engine.alias);
  add("version", engine.version);
  add("started", engine.started);
  add("heartbeat", engine.heartbeat);
  add("running", (engine.running || []).map((r) => r.model + " in " + r.channel.slice(0, 8)).join(", ") || "nothing");
  add("queued", engine.queued);
  if (engine.sync) add("remote", engine.sync.url + (engine.sync.error ? " (" + engine.sync.error + ")" : ""));
  const models = $("models");
  models.replaceChildren();
  for (const model of agents.models) {
    models.append(row([model.model, model.command, model.claimed ? "claimed" : model.reason || "not claimed"]));
  }
  if (agents.models.length === 0) models.append(row(["none in data/crosstalk.yaml", "", ""]));
  $("installed").replaceChildren(...agents.installed.map((a) => el("li", a.name + " (" + a.path + ")")));
  if (agents.installed.length === 0) $("installed").append(el("li", "none found on PATH", "muted"));
  $("dispatchers").replaceChildren(...dispatchers.dispatchers.map((d) =>
    el("li", d.alias + " on " + d.host + ": " + (d.models.join(", ") || "no models") + (d.stale ? " (stale)" : ""))
  ));
}

/**
 * Reads this machine's tmux agents again (GET /api/tmux-agents): at most one request at a time,
 * and one more after it when something changed meanwhile.
 */
function refreshTmuxAgents() {
  const tmux = state.tmux;
  if (tmux.loading) {
    tmux.again = true;
    return;
  }
  tmux.loading = true;
  tmux.again = false;
  loadTmuxAgents(tmux.generation).catch((error) => {
    if (tmux.generation !== state.tmux.generation) return;
    $("tmux-agents").replaceChildren();
    tmuxNote("list", error.message);
  }).finally(() => {
    tmux.loading = false;
    if (tmux.again && tmux === state.tmux && state.view === "engine") refreshTmuxAgents();
  });
}

/** Sets one part of the tmux panel's note ("list" or "find"); the note shows both, a line each. */
function tmuxNote(part, text) {
  state.tmux.notes[part] = text;
  const shown = [state.tmux.notes.list, state.tmux.notes.find].filter(Boolean).join("\\n");
  $("tmux-agents-note").textContent = shown;
  $("tmux-agents-note").hidden = !shown;
}

/**
 * Lists the tmux agents, one row each (data-name: its name): target, pane up or down, enabled,
 * unread, whether it has a revive command; for an admin, Start (down, enabled and revivable),
 * Disable or Enable, and Remove.
 */
async function loadTmuxAgents(generation) {
  const { agents } = await api("GET", "/api/tmux-agents");
  if (generation !== state.tmux.generation) return;
  tmuxNote("list", agents.length === 0 ? "None: crosstalk agent add NAME --tmux TARGET registers one" : "");
  $("tmux-agents").replaceChildren(...agents.map((agent) => {
    const pane = el("span", agent.up ? agent.pane + " up" : "down", agent.up ? "ok" : "muted");
    const revive = el("span", agent.revivable ? "yes" : "no");
    // Only an admin's answer carries the command (it may hold a secret): shown on hover.
    if (agent.revive) revive.title = agent.revive + (agent.cwd ? "\\nin " + agent.cwd : "");
    const tr = row([
      agent.name, agent.target, pane, agent.enabled ? "yes" : "no", String(agent.unread), revive,
      state.admin ? tmuxActions(agent) : "",
    ]);
    tr.dataset.name = agent.name;
    return tr;
  }));
}

/** An admin's buttons for one tmux agent. */
function tmuxActions(agent) {
  const path = "/api/tmux-agents/" + encodeURIComponent(agent.name);
  const actions = el("span", undefined, "actions");
  const button = (label, run) => {
    const node = el("button", label);
    node.type = "button";
    node.addEventListener("click", async () => {
      node.disabled = true;
      notice("");
      try {
        await run(node);
      } catch (error) {
        showNotice(error);
      } finally {
        node.disabled = false;
        refreshTmuxAgents();
      }
    });
    actions.append(node);
  };
  if (agent.enabled && !agent.up && agent.revivable) {
    // The answer comes once the agent is up: its revive timeout and grace later.
    button("Start", async (node) => {
      node.textContent = "Starting…";
      try {
        const started = await api("POST", path + "/start");
        notice(started.started ? agent.name + " started" : agent.name + " was running already");
      } finally {
        node.textContent = "Start";
      }
    });
  }
  const verb = agent.enabled ? "disable" : "enable";
  button(agent.enabled ? "Disable" : "Enable", () => api("POST", path + "/" + verb));
  button("Remove", async () => {
    if (!confirm("Remove the tmux agent " + agent.name + "? Its unread messages stay on the bus.")) return;
    await api("DELETE", path);
  });
  return actions;
}

/**
 * Lists the panes of a tmux server as the registrations they could become (an admin's:
 * GET /api/tmux-agents/candidates; no socket is the engine's default server): a free pane with its
 * proposed name, which can be changed, and Add; a taken or dead one greyed, with why.
 */
async function findPanes(form) {
  const generation = state.tmux.generation;
  const socket = form.elements.socket.value.trim();
  const button = form.querySelector("button");
  button.disabled = true;
  tmuxNote("find", "");
  try {
    const query = socket ? "?socket=" + encodeURIComponent(socket) : "";
    const found = await api("GET", "/api/tmux-agents/candidates" + query);
    if (generation !== state.tmux.generation) return;
    $("tmux-candidates").replaceChildren(...found.candidates.map((candidate) => paneRow(found, candidate)));
    $("tmux-candidates-table").hidden = found.candidates.length === 0;
    if (found.candidates.length === 0) {
      tmuxNote("find", "No tmux panes: no tmux server runs on " + (found.socket ?? "the engine's default socket"));
    }
  } catch (error) {
    if (generation !== state.tmux.generation) return;
    $("tmux-candidates").replaceChildren();
    $("tmux-candidates-table").hidden = true;
    tmuxNote("find", error.message);
  } finally {
    button.disabled = false;
  }
}

/** One pane found (data-pane: its pane id): the form that registers a free one, or why it is not. */
function paneRow(found, candidate) {
  const free = candidate.name !== null;
  const tr = row([
    candidate.pane, candidate.target, candidate.agent, candidate.command, candidate.folder,
    free ? addPaneForm(found, candidate) : whyNotFree(candidate),
  ]);
  tr.dataset.pane = candidate.pane;
  if (!free) tr.className = "muted";
  return tr;
}

function whyNotFree(candidate) {
  const { taken } = candidate;
  if (taken) return (taken.by === "tmux-agent" ? "registered as " : "live session ") + taken.name;
  return candidate.own ? "your own pane" : "dead";
}

/**
 * A free pane's name (the proposed one until changed) and Add, which registers it with its target,
 * guessed agent and the socket it was found on (POST /api/tmux-agents); the row then says so, and a
 * name refused stays to be changed, with the reason in the panel's note.
 */
function addPaneForm(found, candidate) {
  const generation = state.tmux.generation;
  const form = el("form", undefined, "add-pane");
  const input = el("input");
  Object.assign(input, { name: "name", value: candidate.name, autocomplete: "off" });
  input.setAttribute("aria-label", "Name for pane " + candidate.pane);
  const button = el("button", "Add");
  button.type = "submit";
  form.append(input, button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    input.disabled = button.disabled = true;
    tmuxNote("find", "");
    try {
      const agent = await api("POST", "/api/tmux-agents", {
        name: input.value.trim(),
        target: candidate.target,
        agent: candidate.agent,
        ...(found.socket === null ? {} : { socket: found.socket }),
      });
      if (generation !== state.tmux.generation) return;
      form.replaceWith(el("span", "added as " + agent.name, "ok"));
      refreshTmuxAgents();
    } catch (error) {
      if (generation !== state.tmux.generation) return;
      tmuxNote("find", error.message);
      input.disabled = button.disabled = false;
      input.focus();
    }
  });
  return form;
}

async function loadTokens() {
  const { tokens } = await api("GET", "/api/tokens");
  const list = $("tokens");
  list.replaceChildren();
  for (const token of tokens.filter((t) => !t.revoked)) {
    list.append(row([
      token.name,
      token.username,
      token.expires.slice(0, 10),
      token.lastUsed ? token.lastUsed.slice(0, 16).replace("T", " ") : "never",
      action("revoke", async () => {
        await api("DELETE", "/api/tokens/" + encodeURIComponent(token.id));
        await loadTokens();
      }),
    ]));
  }
}

async function loadUsers() {
  const { users } = await api("GET", "/api/users");
  const list = $("users");
  list.replaceChildren();
  for (const user of users) {
    const reset = resetForm(user.username);
    const remove = user.username === state.me ? "" : action("delete", async () => {
      if (!confirm("Delete " + user.username + "? Their tokens stop working.")) return;
      await api("DELETE", "/api/users/" + encodeURIComponent(user.username));
      await loadUsers();
    });
    // Self-protected: an admin does not take their own rights (another admin can).
    const role = user.username === state.me ? "" : action(user.admin ? "not admin" : "make admin", async () => {
      await api("PATCH", "/api/users/" + encodeURIComponent(user.username), { admin: !user.admin });
      await loadUsers();
    });
    const actions = el("span");
    actions.append(reset, " ", role, " ", remove);
    list.append(row([user.username, user.admin ? "admin" : "user", user.created.slice(0, 10), actions]));
  }
}

/** A form in a user's row that sets their passphrase. */
function resetForm(username) {
  const form = el("form", undefined, "reset");
  const input = el("input");
  Object.assign(input, {
    type: "password", name: "passphrase", autocomplete: "new-password", required: true,
    minLength: 8, placeholder: "new passphrase",
  });
  input.setAttribute("aria-label", "New passphrase for " + username);
  const button = el("button", "reset passphrase");
  button.type = "submit";
  form.append(input, " ", button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    notice("");
    try {
      await api("POST", "/api/users/" + encodeURIComponent(username) + "/passphrase", {
        passphrase: input.value,
      });
      input.value = "";
      notice("Passphrase of " + username + " changed");
    } catch (error) {
      showNotice(error);
    }
  });
  return form;
}

/**
 * Follows the engine's log while the Logs tab shows: its own stream, whose records wait until the
 * last ones written before it are shown (those the stream also sent are shown once).
 */
function openLogs() {
  const logs = {
    source: new EventSource("/api/logs/stream"), loading: null, ready: false, early: [], held: [], paused: false,
  };
  state.logs = logs;
  $("log-lines").replaceChildren();
  showHeld();
  logs.source.addEventListener("hello", () => {
    if (logs.loading) return;
    logs.loading = api("GET", "/api/logs?lines=" + LOG_FIRST).catch((error) => {
      showNotice(error);
      return { records: [] };
    }).then(({ records }) => {
      if (state.logs !== logs) return;
      const seen = new Set(records.map((record) => JSON.stringify(record)));
      for (const record of records) appendLog(record);
      for (const record of logs.early) {
        if (!seen.has(JSON.stringify(record))) receiveLog(logs, record);
      }
      logs.early = [];
      logs.ready = true;
    });
  });
  logs.source.addEventListener("log", (event) => {
    if (state.logs !== logs) return;
    const record = JSON.parse(event.data);
    if (logs.ready) receiveLog(logs, record);
    else logs.early.push(record);
  });
  logs.source.addEventListener("open", () => $("log-state").textContent = "live");
  logs.source.addEventListener("error", () => {
    $("log-state").textContent = logs.source.readyState === EventSource.CLOSED ? "offline" : "reconnecting…";
  });
}

function closeLogs() {
  if (!state.logs) return;
  state.logs.source.close();
  state.logs = null;
  $("log-state").textContent = "";
  $("log-pause").textContent = "Pause";
  showHeld();
}

/** A new record: shown, or held while paused (the newest LOG_KEEP of them). */
function receiveLog(logs, record) {
  if (!logs.paused) {
    appendLog(record);
    return;
  }
  logs.held.push(record);
  if (logs.held.length > LOG_KEEP) logs.held.shift();
  showHeld();
}

function showHeld() {
  const logs = state.logs;
  const held = $("log-held");
  held.hidden = !logs || !logs.paused;
  held.textContent = logs ? logs.held.length + " new while paused" : "";
}

function appendLog(record) {
  const list = $("log-lines");
  // The section scrolls; it follows the newest line unless scrolled up to read.
  const pane = list.parentElement;
  const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
  const { ts, level, event, ...fields } = record;
  const time = ts ? new Date(ts).toTimeString().slice(0, 8) : "--:--:--";
  const rest = Object.entries(fields).map(([key, value]) =>
    key + "=" + (typeof value === "string" ? value : JSON.stringify(value))
  );
  const line = el("li", [time, String(level).padEnd(5), event, ...rest].join(" "), "log-" + level);
  line.dataset.level = String(Math.max(0, LOG_LEVELS.indexOf(level)));
  line.hidden = !logShown(line, logFilter());
  list.append(line);
  while (list.childElementCount > LOG_KEEP) list.firstElementChild.remove();
  if (atBottom) pane.scrollTop = pane.scrollHeight;
}

function logFilter() {
  return { text: $("log-filter").value.toLowerCase(), level: LOG_LEVELS.indexOf($("log-level").value) };
}

function logShown(line, filter) {
  return Number(line.dataset.level) >= filter.level &&
    (!filter.text || line.textContent.toLowerCase().includes(filter.text));
}

function filterLogs() {
  const filter = logFilter();
  for (const line of $("log-lines").children) line.hidden = !logShown(line, filter);
}

/** Lists the tasks across channels, newest first: open and claimed ones, or all when asked. */
const refreshTasks = serially(async () => {
  const all = $("tasks-all").checked;
  const { tasks } = await api("GET", "/api/tasks?state=" + (all ? "all" : "open"));
  const list = $("task-list");
  list.replaceChildren(...tasks.map(taskRow));
  if (tasks.length === 0) list.append(row([all ? "no tasks" : "no open tasks", "", "", "", "", ""]));
});

function taskRow(task) {
  const status = el("span");
  status.append(el("span", task.state, "badge task-" + task.state));
  if (task.result) status.append(" " + task.result);
  return row([
    action(task.title || "(no text)", () => openMessage(task.channel, task.id)),
    status,
    channelName(task.channel),
    "by " + task.flaggedBy + ", " + when(task.flaggedAt),
    task.claimedBy ? "by " + task.claimedBy + ", " + when(task.claimedAt) : "",
    [task.role, task.cwd].filter(Boolean).join(" in "),
  ]);
}

/**
 * Reads the approvals again: the pending ones, or all the engine remembers when asked. What an
 * event said while the list was read stands, as states only move on from pending.
 */
const refreshApprovals = serially(async () => {
  const all = $("approvals-all").checked;
  const touched = new Set();
  state.approvalsTouched = touched;
  const answer = await api("GET", "/api/approvals?state=" + (all ? "all" : "pending"))
    .catch((error) => ({ error }));
  // Signed out meanwhile: signedOut() dropped the set.
  if (state.approvalsTouched !== touched) return;
  state.approvalsTouched = null;
  if (answer.error) throw answer.error;
  const { approvals } = answer;
  const known = state.approvals;
  const next = new Map();
  for (const approval of approvals) next.set(approval.id, newerApproval(known.get(approval.id), approval));
  for (const id of touched) {
    if (!next.has(id) && known.has(id)) next.set(id, known.get(id));
  }
  state.approvals = next;
  showApprovals();
});

/** Of two versions of one approval, the one that says more: a decision over a pending request. */
function newerApproval(known, approval) {
  return known && known.state !== "pending" && approval.state === "pending" ? known : approval;
}

/** An approval asked or decided (an event, or a decision made here). */
function onApproval(approval) {
  state.approvals.set(approval.id, newerApproval(state.approvals.get(approval.id), approval));
  if (state.approvalsTouched) state.approvalsTouched.add(approval.id);
  showApprovals();
}

/**
 * Shows the count of pending approvals on their tab, and lists them (or all). An item already
 * shown stays in place as long as its state does, keeping a reason being typed into it.
 */
function showApprovals() {
  const known = [...state.approvals.values()].sort((a, b) => a.at < b.at ? -1 : a.at > b.at ? 1 : 0);
  const pending = known.filter((a) => a.state === "pending");
  const count = $("approvals-count");
  count.textContent = String(pending.length);
  count.title = pending.length + " waiting for a decision";
  count.hidden = pending.length === 0;
  document.title = (pending.length ? "(" + pending.length + ") " : "") + "crosstalk";
  const shown = $("approvals-all").checked ? known : pending;
  const items = new Map();
  for (const approval of shown) {
    const old = state.approvalItems.get(approval.id);
    items.set(approval.id, old && old.approval.state === approval.state
      ? old
      : { approval, node: approvalItem(approval) });
  }
  state.approvalItems = items;
  const list = $("approval-list");
  const nodes = new Set([...items.values()].map((item) => item.node));
  for (const node of [...list.children]) {
    if (!nodes.has(node)) node.remove();
  }
  let at = list.firstElementChild;
  for (const node of nodes) {
    if (node === at) at = at.nextElementSibling;
    else list.insertBefore(node, at);
  }
  $("approvals-none").hidden = shown.length > 0;
  $("approvals-none").textContent = $("approvals-all").checked
    ? "No approvals in the last hour."
    : "Nothing waits for a decision.";
}

function approvalItem(approval) {
  const item = el("li", undefined, "approval");
  item.dataset.id = approval.id;
  item.dataset.state = approval.state;
  const head = el("div", undefined, "head");
  head.append(el("strong", approval.name || approval.agent, "who"));
  if (approval.name) head.append(el("span", " (" + approval.agent + ")", "muted"));
  head.append(" asks to use ", el("code", approval.tool, "tool"));
  head.append(el("time", " " + when(approval.at), "muted"));
  item.append(head);
  if (approval.cwd) item.append(el("div", "in " + approval.cwd, "cwd muted"));
  const input = approval.input;
  if (input && typeof input === "object" && typeof input.command === "string") {
    if (typeof input.description === "string") item.append(el("div", input.description, "muted"));
    item.append(el("pre", input.command, "command"));
  } else {
    item.append(el("pre", JSON.stringify(input === undefined ? null : input, null, 2), "input"));
  }
  item.append(approval.state === "pending" ? decisionForm(approval) : outcome(approval));
  return item;
}

/** Allow, or Deny with an optional reason (Enter in the reason denies). */
function decisionForm(approval) {
  const form = el("form", undefined, "decide");
  const allow = el("button", "Allow", "allow");
  allow.type = "button";
  const reason = el("input");
  reason.name = "reason";
  reason.maxLength = 1000;
  reason.placeholder = "reason to deny (optional)";
  reason.setAttribute("aria-label", "Reason to deny");
  const deny = el("button", "Deny", "deny");
  deny.type = "submit";
  form.append(allow, " ", reason, " ", deny);
  const decide = async (decision) => {
    const why = decision === "deny" ? reason.value.trim() : "";
    allow.disabled = deny.disabled = true;
    notice("");
    try {
      onApproval(await api("POST", "/api/approvals/" + encodeURIComponent(approval.id), {
        decision,
        ...(why ? { reason: why } : {}),
      }));
    } catch (error) {
      showNotice(error);
    } finally {
      allow.disabled = deny.disabled = false;
    }
  };
  allow.addEventListener("click", () => decide("allow"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    decide("deny");
  });
  return form;
}

function outcome(approval) {
  const line = el("p", undefined, "outcome");
  line.append(el("span", approval.state, "badge approval-" + approval.state));
  if (approval.decidedBy) line.append(" by " + approval.decidedBy + ", " + when(approval.decidedAt));
  if (approval.reason) line.append(": " + approval.reason);
  return line;
}

/** Shows what a search found, in the bus view; each found message opens in its channel. */
function showFound(found, query, channel) {
  $("search-summary").textContent = "Search for “" + query.trim() + "” in " +
    (channel ? channelName(channel.id) : "every channel");
  const note = $("search-note");
  note.hidden = found.complete;
  // The scan has a budget: in one channel it reaches further back.
  note.textContent = "The search stopped after reading " + found.scanned + " messages, so older ones " +
    (channel
      ? "were not searched."
      : "and some channels were not searched: tick “only this channel” to search the open one alone.");
  const list = $("found");
  list.replaceChildren(...found.messages.map(foundItem));
  if (found.messages.length === 0) list.append(el("li", "nothing found", "muted"));
  $("search-results").hidden = false;
}

/** Who a message is to, and who it leaves out (its exclude). */
function addressees(message) {
  const not = message.exclude && message.exclude.length ? " (not " + message.exclude.join(", ") + ")" : "";
  return message.to.join(", ") + not;
}

function foundItem(message) {
  const item = el("li");
  const head = el("div", undefined, "head");
  head.append(el("strong", channelName(message.channel)));
  head.append(el("span", " " + message.from + " → " + addressees(message), "muted"));
  head.append(el("time", " " + when(message.timestamp), "muted"));
  const first = message.body.split("\\n").find((line) => line.trim() !== "");
  item.append(head, action(first ? first.trim() : "(no text)", () => openMessage(message.channel, message.id)));
  return item;
}

function closeSearch() {
  state.searchRequest++;
  $("search-results").hidden = true;
  $("found").replaceChildren();
}

/** run() one call at a time: a call while one runs waits for it, calls while one waits share it. */
function serially(run) {
  let running = Promise.resolve();
  let waiting = false;
  return () => {
    if (waiting) return running;
    waiting = true;
    running = running.then(() => {
      waiting = false;
      return run();
    }).catch(showNotice);
    return running;
  };
}

/** Loads the list of workflows, and the one shown. */
const refreshWorkflows = serially(async () => {
  await loadWorkflows();
  if (state.workflow) await loadWorkflow(state.workflow);
});

async function loadWorkflows() {
  const { workflows } = await api("GET", "/api/workflows");
  findPending(workflows);
  const list = $("workflows");
  list.replaceChildren();
  for (const workflow of workflows) {
    const tr = row([
      action(workflow.name, () => openWorkflow(workflow.child)),
      phaseBadge(workflow.phase),
      when(workflow.created),
    ]);
    tr.classList.toggle("current", workflow.child === state.workflow);
    list.append(tr);
  }
  if (workflows.length === 0) list.append(row(["none yet", "", ""]));
}

/**
 * Shows the workflow of the request just sent once it is listed (the send does not say its child
 * channel); until then the list is read again, at each workflow event and every second.
 */
function findPending(workflows) {
  const pending = state.pendingWorkflow;
  if (!pending) return;
  const found = workflows.find((w) =>
    w.request.channel === pending.channel && w.request.id === pending.id
  );
  if (found) {
    clearTimeout(pending.timer);
    state.pendingWorkflow = null;
    state.workflow = found.child;
    notice("");
    return;
  }
  if (pending.timer) return;
  if (++pending.tries > PENDING_TRIES) {
    state.pendingWorkflow = null;
    notice("No engine has started the workflow yet: it is listed here once one does");
    return;
  }
  pending.timer = setTimeout(() => {
    pending.timer = 0;
    if (state.pendingWorkflow === pending) refreshWorkflows();
  }, PENDING_MS);
}

function openWorkflow(child) {
  state.workflow = child;
  remember("#/w/" + encodeURIComponent(child));
  return refreshWorkflows();
}

async function loadWorkflow(child) {
  let workflow;
  try {
    workflow = await api("GET", "/api/workflows/" + encodeURIComponent(child));
  } catch (error) {
    // Gone (its channel deleted): nothing left to show.
    if (state.workflow === child) closeWorkflow();
    throw error;
  }
  if (state.workflow === child) showWorkflow(workflow);
}

function closeWorkflow() {
  state.workflow = null;
  $("workflow").hidden = true;
}

function showWorkflow(workflow) {
  $("workflow").hidden = false;
  $("workflow-name").textContent = workflow.name;
  $("workflow-phase").textContent = workflow.phase;
  $("workflow-phase").className = "badge phase-" + workflow.phase;
  const facts = $("workflow-facts");
  facts.replaceChildren();
  const request = workflow.request;
  addFact(facts, "request", action(channelName(request.channel) + " " + request.id,
    () => openMessage(request.channel, request.id)));
  addFact(facts, "channel", action("#" + workflow.name, () => openMessage(workflow.child)));
  addFact(facts, "coordinated by", workflow.host);
  addFact(facts, "created", when(workflow.created));
  addFact(facts, "completed", when(workflow.completed));
  addFact(facts, "result", resultCell(workflow));
  $("workflow-plan").replaceChildren(...(workflow.plan
    ? planItems(workflow.plan)
    : [el("li", "not planned yet", "muted")]));
  const steps = $("workflow-steps");
  steps.replaceChildren(...workflow.steps.map((step) =>
    row([step.step, step.to, when(step.sent), stepState(workflow, step)])
  ));
  if (workflow.steps.length === 0) steps.append(row(["none yet", "", "", ""]));
}

function addFact(list, term, value) {
  if (value === undefined || value === null || value === "") return;
  const dd = el("dd");
  dd.append(value);
  list.append(el("dt", term), dd);
}

function resultCell(workflow) {
  const result = workflow.result;
  if (!result) return el("span", "not yet", "muted");
  const open = () => openMessage(workflow.request.channel, result.id);
  if (!result.failed) return action("sent: open it", open);
  const failed = el("span", "failed: " + (result.error || "") + " ", "error");
  failed.append(action("open it", open));
  return failed;
}

/** What became of a step: sent, replied by someone (a link to the reply) or failed. */
function stepState(workflow, step) {
  const reply = step.reply;
  if (!reply) return "sent";
  const open = () => openMessage(workflow.child, reply.id);
  if (!reply.failed) return action("replied by " + reply.from, open);
  const failed = el("span", undefined, "error");
  failed.append(action("failed", open), " (" + reply.from + "): " + (reply.error || ""));
  return failed;
}

function planItems(plan) {
  const asText = (step) => step.as ? " as " + step.as : "";
  const items = plan.fanout.map((step) =>
    el("li", "fan-out: " + step.count + " × " + step.to + asText(step) + ": " + step.prompt)
  );
  const synthesis = plan.synthesize;
  items.push(synthesis
    ? el("li", "synthesis: " + synthesis.to + asText(synthesis) + ": " + synthesis.prompt)
    : el("li", "no synthesis: the drafts are the result", "muted"));
  return items;
}

function phaseBadge(phase) {
  return el("span", phase, "badge phase-" + phase);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function channelName(id) {
  const channel = state.channels.find((c) => c.id === id);
  return channel ? "#" + channel.name : id;
}

/** Opens a channel in the bus view and there, when given, a message with its delivery. */
async function openMessage(channelId, id) {
  show("bus");
  state.channel = { id: channelId };
  await loadChannels();
  if (!state.channel || (state.channel.id !== channelId && state.channel.name !== channelId)) {
    throw new Error("No channel " + channelId + " any more");
  }
  if (!id) return;
  channelId = state.channel.id;
  // Older than the week a channel shows at first.
  if (!state.shown.has(id)) await loadOne(channelId + "/" + id);
  const message = state.shown.get(id);
  if (!message) return;
  const item = [...$("messages").children].find((node) => node.dataset.id === id);
  if (item) item.scrollIntoView({ block: "center" });
  await showDelivery(message);
}

/** Refreshes the workflows shown on an event that may have moved one on. */
function onWorkflowEvent(type, data) {
  if (state.view !== "workflows") return;
  const child = state.workflow;
  const ofShown = child && (String(data.ref || "").startsWith(child + "/") ||
    String(data.trace || "").startsWith(child.slice(0, 8) + "/"));
  if (type === "workflow" || ofShown) refreshWorkflows();
}

async function loadChannels() {
  const { channels } = await api("GET", "/api/channels");
  state.channels = channels;
  // Workflows are requested in a channel of people, rather than in another workflow's.
  $("workflow-channels").replaceChildren(...channels.filter((c) => !c.parent).map((c) => {
    const option = el("option");
    option.value = c.name;
    return option;
  }));
  const list = $("channels");
  list.replaceChildren();
  for (const channel of channels) {
    const item = el("li");
    const link = el("button", "#" + channel.name, "link");
    link.type = "button";
    link.dataset.channel = channel.id;
    link.addEventListener("click", () => openChannel(channel));
    item.append(link);
    list.append(item);
  }
  // A link may name the channel instead (#/c/general, as Crosstalk 8's /c/<name> did).
  const wanted = state.channel && state.channel.id;
  const current = channels.find((c) => c.id === wanted) ||
    channels.find((c) => c.name === wanted) ||
    channels.find((c) => c.name === "general") || channels[0];
  if (current) {
    await openChannel(current);
  } else {
    state.channel = null;
    $("channel-title").textContent = "no channel yet: add one";
    $("messages").replaceChildren();
  }
}

async function loadPeers() {
  const list = $("peers");
  let peers;
  try {
    peers = await api("GET", "/api/peers");
  } catch {
    return;
  }
  list.replaceChildren();
  for (const agent of peers.agents) {
    const item = el("li", agent.name + " (" + agent.agent + ", " + agent.machine + ")", "peer");
    item.append(el("span", agent.online ? " " + agent.status : " offline", agent.online ? "ok" : "muted"));
    const about = [agent.role, agent.model, agent.cwd].filter(Boolean);
    if (about.length > 0) {
      const line = el("div", about.join(" · "), "about muted");
      line.title = [["role", agent.role], ["model", agent.model], ["folder", agent.cwd]]
        .filter(([, value]) => value).map(([what, value]) => what + ": " + value).join("\\n");
      item.append(line);
    }
    list.append(item);
  }
  for (const model of peers.models) list.append(el("li", model.model, "muted"));
  for (const human of peers.humans) list.append(el("li", human));
}

async function openChannel(channel) {
  state.channel = channel;
  if (state.view === "bus") remember("#/c/" + channel.id);
  state.last = null;
  state.shown = new Map();
  Object.assign(state, {
    items: new Map(), replies: new Map(), thread: null, notes: new Map(), notesQueue: new Set(),
    inView: new Set(),
  });
  seen.disconnect();
  $("channel-title").textContent = "#" + channel.name;
  $("messages").replaceChildren($("older-row") || olderRow);
  showThread();
  $("older").hidden = false;
  closeDelivery();
  for (const button of document.querySelectorAll("#channels button")) {
    button.classList.toggle("current", button.dataset.channel === channel.id);
  }
  cancelReply();
  // The last week: message ids begin with their UTC time, so one id bounds the listing.
  state.last = idAt(Date.now() - 7 * 24 * 3600 * 1000);
  await loadNew();
}

/** Lists the page of messages before the oldest shown (the top of the list). */
async function loadOlder() {
  const channel = state.channel;
  if (!channel) return;
  const first = $("messages").querySelector("li.message");
  const before = first ? first.dataset.id : idAt(Date.now() + 60_000);
  const page = await api("GET", "/api/messages?channel=" + encodeURIComponent(channel.id) +
    "&limit=100&before=" + encodeURIComponent(before));
  if (state.channel !== channel) return;
  for (const message of page.messages) showMessage(message);
  if (!page.previous) $("older").hidden = true;
}

/** The smallest message id of the millisecond ms (ids are YYYY/MM/DD/HHMMSSmmmZ-<hex>.md). */
function idAt(ms) {
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 10).replaceAll("-", "/") + "/" + iso.slice(11, 23).replace(/[:.]/g, "") +
    "Z-00000000.md";
}

/** When the newest message shown was written (ms), or 0. */
function lastShownTime() {
  let last = 0;
  for (const message of state.shown.values()) {
    const time = Date.parse(message.timestamp);
    if (time > last) last = time;
  }
  return last;
}

/** Shows one message the stream named, wherever its id puts it. */
async function loadOne(ref) {
  const channel = state.channel;
  if (!channel || !ref.startsWith(channel.id + "/")) return;
  if (state.shown.has(ref.slice(channel.id.length + 1))) return;
  try {
    const message = await api("GET", "/api/messages/" + ref);
    if (state.channel === channel) showMessage(message);
  } catch (error) {
    showError(error);
  }
}

let loading = Promise.resolve();
let loadWanted = false;
/** Loads what is new in the open channel; calls made while a load waits share it. */
function loadNew() {
  if (loadWanted) return loading;
  loadWanted = true;
  loading = loading.then(async () => {
    loadWanted = false;
    const channel = state.channel;
    if (!channel) return;
    // Again from a few minutes back (a message whose sender's clock was behind sorts before
    // what was shown), and never from later than this clock allows (one whose clock was ahead
    // must not hide what comes after it).
    let since = state.last < idAt(Date.now() - RELIST_MS) ? state.last : idAt(Date.now() - RELIST_MS);
    for (;;) {
      const page = await api("GET", "/api/messages?channel=" + encodeURIComponent(channel.id) +
        "&limit=200&since=" + encodeURIComponent(since));
      if (state.channel !== channel) return;
      for (const message of page.messages) showMessage(message);
      if (!page.next) break;
      since = page.next;
    }
    // The newest shown, unless that is later than this clock; never back before the bound.
    const newest = idAt(Math.min(Date.now(), lastShownTime()));
    if (newest > state.last) state.last = newest;
  }).catch((error) => {
    // The channel is gone (deleted elsewhere): the list of channels says where to go.
    if (/No channel/.test(error.message)) return loadChannels();
    showError(error);
  });
  return loading;
}

/**
 * Markdown in a message: its lines' blocks, and in them code, bold, emphasis and links. Only
 * elements and text nodes are made (nothing is read as HTML, so raw HTML shows as text), and a
 * link only goes to an http, https or mailto address.
 */
const MD_FENCE = /^([ \\t]*)(\`{3,}|~{3,})(.*)$/;
const MD_HEADING = /^ {0,3}(#{1,6})(?:[ \\t]+(.*))?$/;
const MD_RULE = /^ {0,3}([-*_])(?:[ \\t]*\\1){2,}[ \\t]*$/;
const MD_QUOTE = /^ {0,3}> ?/;
const MD_ITEM = /^([ \\t]*)([-*+]|\\d{1,9}[.)])[ \\t]+(\\S.*)$/;
/** How deep quotes nest before a ">" is only text. */
const MD_DEPTH = 4;
/** Bold and emphasis: their content never holds their own marker, so a failed try is short. */
const MD_SPANS = [
  ["strong", /\\*\\*(?!\\s)((?:[^*]|\\*(?!\\*))*?\\S)\\*\\*(?!\\*)/y],
  ["strong", /(?<![\\p{L}\\p{N}])__(?!\\s)((?:[^_]|_(?!_))*?[^\\s_])__(?![\\p{L}\\p{N}])/uy],
  ["em", /\\*(?![\\s*])([^*]*?[^\\s*])\\*/y],
  ["em", /(?<![\\p{L}\\p{N}])_(?![\\s_])([^_]*?[^\\s_])_(?![\\p{L}\\p{N}])/uy],
];
const MD_LINK = /\\[([^[\\]\\n]+)\\]\\(([^\\s()]+(?:\\([^\\s()]*\\)[^\\s()]*)*)(?:[ \\t]+"[^"\\n]*")?\\)/y;
const MD_URL = /https?:\\/\\/[^\\s<>"\`]+/iy;

/** Appends a markdown text's blocks to parent. */
function markdown(parent, text, depth = 0) {
  const lines = text.split(/\\r?\\n/);
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = fenceOf(line);
    const heading = MD_HEADING.exec(line);
    if (line.trim() === "") {
      i++;
    } else if (fence) {
      // Shown as it is; a fence left open runs to the end.
      const code = [];
      for (i++; i < lines.length && !closes(fence, lines[i]); i++) {
        const indent = lines[i].length - lines[i].trimStart().length;
        code.push(lines[i].slice(Math.min(indent, fence.indent)));
      }
      i++;
      const pre = el("pre");
      const node = el("code", code.join("\\n"));
      if (fence.language) node.dataset.language = fence.language;
      pre.append(node);
      parent.append(pre);
    } else if (heading) {
      // A bold line: a heading in a message is not one of the page's.
      const node = el("p", undefined, "heading");
      node.setAttribute("role", "heading");
      node.setAttribute("aria-level", String(Math.min(6, heading[1].length + 2)));
      inline(node, (heading[2] ?? "").trim().replace(/[ \\t]#+$/, "").trim());
      parent.append(node);
      i++;
    } else if (MD_RULE.test(line)) {
      parent.append(el("hr"));
      i++;
    } else if (depth < MD_DEPTH && MD_QUOTE.test(line)) {
      const inner = [];
      for (; i < lines.length && MD_QUOTE.test(lines[i]); i++) inner.push(lines[i].replace(MD_QUOTE, ""));
      const quote = el("blockquote");
      markdown(quote, inner.join("\\n"), depth + 1);
      parent.append(quote);
    } else if (MD_ITEM.test(line)) {
      i = list(parent, lines, i, depth);
    } else {
      // A paragraph: its lines until a blank one or another block (newlines stay breaks).
      const start = i++;
      while (i < lines.length && lines[i].trim() !== "" && !interrupts(lines[i], depth)) i++;
      const node = el("p");
      inline(node, lines.slice(start, i).join("\\n"));
      parent.append(node);
    }
  }
}

/** A line that opens a code block: its indent, fence and language. */
function fenceOf(line) {
  const match = MD_FENCE.exec(line);
  if (!match || (match[2][0] === "\`" && match[3].includes("\`"))) return null;
  return { indent: match[1].length, fence: match[2], language: match[3].trim().split(/\\s/)[0] };
}

function closes(fence, line) {
  const match = /^[ \\t]*(\`{3,}|~{3,})[ \\t]*$/.exec(line);
  return match !== null && match[1][0] === fence.fence[0] && match[1].length >= fence.fence.length;
}

/** Whether a line starts a block that ends a paragraph or a list item. */
function interrupts(line, depth) {
  const item = MD_ITEM.exec(line);
  return fenceOf(line) !== null || MD_HEADING.test(line) || MD_RULE.test(line) ||
    (depth < MD_DEPTH && MD_QUOTE.test(line)) ||
    // A numbered line ends a paragraph only when it counts from 1 ("2024. was" does not).
    (item !== null && (!/\\d/.test(item[2]) || Number.parseInt(item[2]) === 1));
}

/**
 * Appends the list that starts at lines[start] (one level: items further in show in it, flat);
 * the index of the line after it.
 */
function list(parent, lines, start, depth) {
  const first = MD_ITEM.exec(lines[start]);
  const ordered = /\\d/.test(first[2]);
  const node = el(ordered ? "ol" : "ul");
  if (ordered && Number.parseInt(first[2]) !== 1) node.start = Number.parseInt(first[2]);
  const items = [];
  let i = start;
  while (i < lines.length) {
    const line = lines[i];
    const item = MD_RULE.test(line) ? null : MD_ITEM.exec(line);
    if (item) {
      // A list of the other kind as far in as this one is a list of its own.
      if (/\\d/.test(item[2]) !== ordered && item[1].length <= first[1].length) break;
      items.push(item[3]);
      i++;
    } else if (line.trim() !== "") {
      if (interrupts(line, depth)) break;
      items[items.length - 1] += "\\n" + line.trim();
      i++;
    } else {
      // After blank lines the list goes on with an item, or with an indented line of the last.
      let next = i;
      while (next < lines.length && lines[next].trim() === "") next++;
      const after = lines[next];
      if (after === undefined) break;
      if (!MD_ITEM.test(after)) {
        if (!/^(?: {2}|\\t)/.test(after) || interrupts(after, depth)) break;
        items[items.length - 1] += "\\n";
      }
      i = next;
    }
  }
  for (const text of items) {
    const item = el("li");
    inline(item, text);
    node.append(item);
  }
  parent.append(node);
  return i;
}

/** Appends a text's inline markdown to parent: code, bold, emphasis, links; the rest as text. */
function inline(parent, text, links = true) {
  // A run of backticks closes at the next run of the same length: the runs' places by length.
  const ticks = new Map();
  for (const run of text.matchAll(/\`+/g)) {
    if (!ticks.has(run[0].length)) ticks.set(run[0].length, { at: [], next: 0 });
    ticks.get(run[0].length).at.push(run.index);
  }
  const starts = /[\\\\\`*_[]|\\bhttps?:\\/\\//gi;
  let done = 0;
  for (let found = starts.exec(text); found; found = starts.exec(text)) {
    const span = spanAt(text, found.index, ticks, links);
    if (!span) continue;
    if (span.node) {
      if (found.index > done) parent.append(text.slice(done, found.index));
      parent.append(span.node);
      done = span.end;
    }
    starts.lastIndex = span.end;
  }
  if (done < text.length) parent.append(text.slice(done));
}

/**
 * What starts at text[at]: a node and where it ends, or only where a run of backticks that opens
 * nothing ends (node null), or null.
 */
function spanAt(text, at, ticks, links) {
  const char = text[at];
  if (char === "\\\\") {
    return /[!-/:-@[-\`{-~]/.test(text[at + 1] ?? "")
      ? { node: document.createTextNode(text[at + 1]), end: at + 2 }
      : null;
  }
  if (char === "\`") {
    let end = at;
    while (text[end] === "\`") end++;
    const runs = ticks.get(end - at);
    if (!runs) return { node: null, end };
    while (runs.next < runs.at.length && runs.at[runs.next] <= at) runs.next++;
    const close = runs.at[runs.next];
    if (close === undefined) return { node: null, end };
    let code = text.slice(end, close).replaceAll("\\n", " ");
    if (code.length > 2 && code[0] === " " && code.at(-1) === " " && code.trim() !== "") {
      code = code.slice(1, -1);
    }
    return { node: el("code", code), end: close + end - at };
  }
  if (char === "*" || char === "_") {
    for (const [tag, pattern] of MD_SPANS) {
      pattern.lastIndex = at;
      const match = pattern.exec(text);
      if (!match) continue;
      const node = el(tag);
      inline(node, match[1], links);
      return { node, end: at + match[0].length };
    }
    return null;
  }
  if (!links) return null;
  if (char === "[") {
    MD_LINK.lastIndex = at;
    const match = MD_LINK.exec(text);
    if (!match) return null;
    const href = safeHref(match[2]);
    // Another kind of address (javascript:, data:, a relative one) stays text, all of it.
    const end = at + match[0].length;
    if (!href) return { node: document.createTextNode(match[0]), end };
    const node = anchor(href);
    inline(node, match[1], false);
    return { node, end };
  }
  MD_URL.lastIndex = at;
  const match = MD_URL.exec(text);
  if (!match) return null;
  // Punctuation after an address ends the sentence, and a ")" without "(" closes a remark.
  const open = match[0].includes("(");
  let end = at + match[0].length;
  while (end > at && (".,:;!?'*_~".includes(text[end - 1]) || (text[end - 1] === ")" && !open))) end--;
  const href = safeHref(text.slice(at, end));
  if (!href) return { node: null, end: at + match[0].length };
  const node = anchor(href);
  node.textContent = text.slice(at, end);
  return { node, end };
}

/** The address a link may go to (http, https, mailto), as the browser reads it; or null. */
function safeHref(url) {
  try {
    const parsed = new URL(url);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

function anchor(href) {
  const node = el("a");
  node.href = href;
  node.rel = "noopener noreferrer";
  node.target = "_blank";
  return node;
}

function showMessage(message) {
  if (state.shown.has(message.id)) return;
  state.shown.set(message.id, message);
  const answered = message.re || [];
  for (const parent of answered) {
    if (!state.replies.has(parent)) state.replies.set(parent, new Set());
    state.replies.get(parent).add(message.id);
  }
  const item = el("li", undefined, "message");
  item.dataset.id = message.id;
  const head = el("div", undefined, "head");
  head.append(el("strong", message.from));
  head.append(el("span", " → " + addressees(message), "muted"));
  head.append(el("time", " " + new Date(message.timestamp).toLocaleString(), "muted"));
  // The task and badges, once known (showNotes).
  head.append(el("span", undefined, "chips"));
  if (answered.length > 0) {
    item.classList.add("reply");
    item.append(el("div", quoteOf(message), "quote muted"));
  }
  const body = el("div", undefined, "body");
  markdown(body, message.body);
  const actions = el("div", undefined, "actions");
  const replies = el("button", undefined, "link replies");
  replies.type = "button";
  replies.hidden = true;
  replies.addEventListener("click", () => {
    state.thread = state.thread === message.id ? null : message.id;
    showThread();
  });
  const reply = el("button", "reply", "link");
  reply.type = "button";
  reply.addEventListener("click", () => replyTo(message));
  const status = el("button", "delivery", "link");
  status.type = "button";
  status.addEventListener("click", () => showDelivery(message));
  actions.append(replies, reply, status);
  item.append(head, body, actions);
  state.items.set(message.id, item);
  showReplyCount(message.id);
  for (const parent of answered) showReplyCount(parent);
  // Replies listed before what they answer (show older messages): they can quote it now.
  for (const id of state.replies.get(message.id) || []) {
    const answer = state.shown.get(id);
    if (answer.re[0] !== message.id) continue;
    state.items.get(id).querySelector(".quote").textContent = quoteOf(answer);
  }
  if (state.thread) item.hidden = !threadOf(state.thread).has(message.id);
  const list = $("messages");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
  // In id order (time, then random): a late message goes where it belongs.
  let next = null;
  for (
    let node = list.lastElementChild;
    node && node.dataset.id !== undefined && node.dataset.id > message.id;
    node = node.previousElementSibling
  ) {
    next = node;
  }
  list.insertBefore(item, next);
  if (atBottom && !next) list.scrollTop = list.scrollHeight;
  seen.observe(item);
}

/** A reply's first line: the start of the message it answers, when that one is shown. */
function quoteOf(message) {
  const parent = state.shown.get(message.re[0]);
  return "↩ " + (parent ? parent.from + ": " + parent.body.slice(0, 80) : "an earlier message");
}

/** "3 replies" on a message that has replies among those shown: it shows their thread alone. */
function showReplyCount(id) {
  const item = state.items.get(id);
  if (!item) return;
  const count = state.replies.has(id) ? state.replies.get(id).size : 0;
  const button = item.querySelector(".replies");
  button.hidden = count === 0;
  button.textContent = count === 0 ? "" : count === 1 ? "1 reply" : count + " replies";
  button.setAttribute("aria-pressed", String(state.thread === id));
}

/** A message's id and those of every reply in its thread, replies to replies too. */
function threadOf(root) {
  const ids = new Set([root]);
  const todo = [root];
  while (todo.length > 0) {
    for (const id of state.replies.get(todo.pop()) || []) {
      if (!ids.has(id)) {
        ids.add(id);
        todo.push(id);
      }
    }
  }
  return ids;
}

/** Shows the thread state.thread names alone (its message and the replies), or every message. */
function showThread() {
  const root = state.thread;
  const ids = root ? threadOf(root) : null;
  for (const [id, item] of state.items) {
    item.hidden = ids !== null && !ids.has(id);
    item.querySelector(".replies").setAttribute("aria-pressed", String(id === root));
  }
  olderRow.hidden = root !== null;
  $("thread").hidden = root === null;
  const message = root ? state.shown.get(root) : undefined;
  $("thread-title").textContent = message ? message.from + ": " + message.body.slice(0, 60) : "";
  if (root) state.items.get(root).scrollIntoView({ block: "nearest" });
}

function wantNotes(id) {
  if (!state.shown.has(id)) return;
  const notes = notesOf(id);
  if (notes.loaded || notes.loading) return;
  state.notesQueue.add(id);
  // The rows that come into view together (one observer callback, one reload) share a request.
  if (notesDue) return;
  notesDue = true;
  queueMicrotask(() => {
    notesDue = false;
    pumpNotes();
  });
}

function notesOf(id) {
  if (!state.notes.has(id)) {
    state.notes.set(id, { loaded: false, loading: false, stale: false, task: undefined, badges: [] });
  }
  return state.notes.get(id);
}

/** Asks for the rows waiting, in the order they came into view, a batch per request. */
function pumpNotes() {
  while (notesRunning < NOTES_AT_ONCE) {
    const batch = [];
    for (const id of state.notesQueue) {
      if (batch.length >= NOTES_BATCH) break;
      state.notesQueue.delete(id);
      // Scrolled past before its turn: asked for again when it is back in view.
      if (state.inView.has(id) && state.shown.has(id)) batch.push(id);
    }
    if (batch.length === 0) return;
    loadNotes(state.channel, batch);
  }
}

/**
 * Reads the task and badges of a batch of the channel's rows in one request. An event that came
 * while the request was under way may be newer than the answer: its row is asked again.
 */
async function loadNotes(channel, ids) {
  const known = state.notes;
  const batch = ids.map((id) => [id, notesOf(id)]);
  for (const [, notes] of batch) {
    notes.loading = true;
    notes.stale = false;
  }
  notesRunning++;
  let answer = null;
  try {
    answer = await api("POST", "/api/channels/" + channel.id + "/annotations", { ids });
  } catch {
    // The channel gone, or the engine away: asked again when the rows next come into view.
  } finally {
    for (const [, notes] of batch) notes.loading = false;
    notesRunning--;
  }
  if (state.notes === known) {
    for (const [id, notes] of batch) {
      if (notes.stale) wantNotes(id);
      else if (answer && answer.annotations[id]) takeNotes(id, answer.annotations[id]);
    }
  }
  pumpNotes();
}

function takeNotes(id, status) {
  const notes = notesOf(id);
  notes.task = status.task;
  notes.badges = status.badges;
  notes.loaded = true;
  showNotes(id);
}

/** A task or badge event: the row of its message shows it at once. */
function onNote(type, data) {
  const channel = state.channel;
  const ref = String(data.message || "");
  if (!channel || !ref.startsWith(channel.id + "/")) return;
  const id = ref.slice(channel.id.length + 1);
  if (!state.shown.has(id)) return;
  const notes = notesOf(id);
  if (notes.loading) notes.stale = true;
  if (type === "task") {
    // The event carries the whole task.
    const { message: _ref, at: _at, ...task } = data;
    notes.task = task;
  } else if (notes.loaded) {
    // Adding the same badge again changes nothing (the engine answers with the first).
    const same = (b) => b.type === data.type && b.value === data.value && b.by === data.by;
    if (!notes.badges.some(same)) notes.badges.push({ type: data.type, value: data.value, by: data.by, at: data.at });
  }
  showNotes(id);
}

/** After the stream was away: what the rows in view show is read again. */
function reloadNotes() {
  for (const notes of state.notes.values()) {
    if (notes.loading) notes.stale = true;
    else notes.loaded = false;
  }
  for (const id of state.inView) wantNotes(id);
}

/** The task state and badges as chips in a message's row. */
function showNotes(id) {
  const item = state.items.get(id);
  const notes = state.notes.get(id);
  if (!item || !notes) return;
  const chips = [];
  if (notes.task) chips.push(taskChip(notes.task));
  for (const badge of notes.badges) {
    const chip = el("span", badge.type + (badge.value ? "=" + badge.value : ""), "badge tag");
    chip.title = "badge by " + badge.by;
    chips.push(chip);
  }
  item.querySelector(".chips").replaceChildren(...chips);
}

function taskChip(task) {
  const chip = el("span", "task " + (task.state === "claimed" ? "claimed by " + task.claimedBy : task.state),
    "badge task-" + task.state);
  const about = ["flagged by " + task.flaggedBy];
  if (task.role) about.push("for the role " + task.role);
  if (task.cwd) about.push("in " + task.cwd);
  if (task.result) about.push("result: " + task.result);
  chip.title = about.join(", ");
  return chip;
}

function replyTo(message) {
  state.re = message;
  $("replying").hidden = false;
  $("replying-to").textContent = message.from + ": " + message.body.slice(0, 60);
  const form = $("send");
  form.elements.to.value = message.from;
  // A reply goes to its sender: nobody left out from an earlier message.
  form.elements.exclude.value = "";
  form.elements.body.focus();
}

function cancelReply() {
  state.re = null;
  $("replying").hidden = true;
}

async function showDelivery(message) {
  state.open = message;
  remember("#/m/" + message.channel + "/" + message.id);
  const request = ++state.deliveryRequest;
  $("details").hidden = state.view !== "bus";
  $("details-id").textContent = message.channel + "/" + message.id;
  let status;
  let known = true;
  try {
    status = await api("GET", messagePath(message) + "/status");
  } catch (error) {
    status = { deliveries: [{ to: "cannot tell", state: error.message }], badges: [] };
    known = false;
  }
  // Only the answer to the last request: an older one may come back later.
  if (request !== state.deliveryRequest || state.open !== message) return;
  // Its row shows the same (unless a load of its own is under way).
  const open = state.channel && state.channel.id === message.channel && state.shown.has(message.id);
  if (known && open && !notesOf(message.id).loading) takeNotes(message.id, status);
  $("deliveries").replaceChildren(...status.deliveries.map((row) => el("li", row.to + ": " + row.state)));
  showTask(message, status.task);
  $("badges").replaceChildren(...status.badges.map((badge) =>
    el("li", badge.type + (badge.value ? "=" + badge.value : "") + " by " + badge.by)
  ));
}

function messagePath(message) {
  return "/api/messages/" + message.channel + "/" + message.id;
}

/** The task on the open message, and what the signed-in user can do with it. */
function showTask(message, task) {
  const actions = $("task-actions");
  actions.replaceChildren();
  const act = (label, run) => {
    const button = el("button", label);
    button.type = "button";
    button.addEventListener("click", async () => {
      try {
        await run();
        await showDelivery(message);
      } catch (error) {
        notice(error.message);
      }
    });
    actions.append(button, " ");
  };
  if (!task) {
    $("task").textContent = "not a task";
    act("flag as task", () => api("POST", messagePath(message) + "/task", {}));
    return;
  }
  const parts = [task.state, "flagged by " + task.flaggedBy];
  if (task.role) parts.push("for the role " + task.role);
  if (task.claimedBy) parts.push("claimed by " + task.claimedBy);
  if (task.result) parts.push("result: " + task.result);
  $("task").textContent = parts.join(", ");
  if (task.state === "open") act("claim", () => api("POST", messagePath(message) + "/task/claim", {}));
  if (task.state === "claimed" && task.claimedBy === state.me) {
    act("resolve", async () => {
      const result = prompt("The result");
      if (!result) return;
      await api("POST", messagePath(message) + "/task/resolve", { status: "completed", result });
    });
  }
}

function closeDelivery() {
  state.open = null;
  state.deliveryRequest++;
  $("details").hidden = true;
}

function showError(error) {
  $("send-error").textContent = error.message;
}

function follow() {
  if (state.events) state.events.close();
  const events = new EventSource("/api/events");
  state.events = events;
  events.addEventListener("open", () => {
    $("live-state").textContent = "live";
    // What was written before the stream was there (or while it was away) is listed.
    loadNew();
    reloadNotes();
    loadPeers();
    if (state.view === "tasks") refreshTasks();
    if (state.view === "workflows") refreshWorkflows();
    if (state.view === "engine") refreshTmuxAgents();
    // The count shows in every view.
    refreshApprovals();
  });
  events.addEventListener("error", async () => {
    if (events.readyState !== EventSource.CLOSED) {
      $("live-state").textContent = "reconnecting…";
      return;
    }
    // Refused for good (the session ended?): ask, then sign out or follow again.
    $("live-state").textContent = "offline";
    try {
      await api("GET", "/api/whoami");
      setTimeout(() => state.events === events && follow(), 2000);
    } catch {
      // api() signed out on a 401.
    }
  });
  const refreshDelivery = () => {
    if (state.open && !$("details").hidden) showDelivery(state.open);
  };
  events.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    loadOne(String(data.ref || ""));
    // A reply to the message whose delivery is shown changes its state.
    if (state.open && (data.re || []).includes(state.open.id)) refreshDelivery();
    onWorkflowEvent("message", data);
  });
  for (const type of ["replied", "failed", "empty", "skipped", "woken", "unwoken", "read", "claimed", "running", "task", "badge"]) {
    events.addEventListener(type, refreshDelivery);
  }
  for (const type of ["workflow", "replied", "failed"]) {
    events.addEventListener(type, (event) => onWorkflowEvent(type, JSON.parse(event.data)));
  }
  events.addEventListener("task", (event) => {
    onNote("task", JSON.parse(event.data));
    if (state.view === "tasks") refreshTasks();
  });
  events.addEventListener("badge", (event) => onNote("badge", JSON.parse(event.data)));
  events.addEventListener("live", () => {
    loadPeers();
    if (state.view === "engine") refreshTmuxAgents();
  });
  // A tmux agent's unread count: up by a message that waits, down by one typed into its pane.
  for (const type of ["message", "read", "unwoken"]) {
    events.addEventListener(type, () => {
      if (state.view === "engine") refreshTmuxAgents();
    });
  }
  events.addEventListener("approval", (event) => onApproval(JSON.parse(event.data)));
  events.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    const to = Array.isArray(data.to) ? data.to : [data.to];
    if (data.from !== state.me && to.includes(state.me)) {
      notify("crosstalk: " + data.from, "wrote to you in " + channelName(String(data.ref).split("/")[0]));
    }
  });
  events.addEventListener("approval", (event) => {
    const approval = JSON.parse(event.data);
    if (approval.state === "pending") {
      notify("crosstalk: approval asked", (approval.name || approval.agent) + " asks to use " + approval.tool);
    }
  });
  events.addEventListener("workflow", (event) => {
    const data = JSON.parse(event.data);
    if (data.event === "workflow.complete" || data.event === "workflow.failed") {
      notify("crosstalk: workflow " + (data.event === "workflow.complete" ? "complete" : "failed"), channelName(String(data.child || "")));
    }
  });
}

/** The page's own choice to notify, kept in this browser (an opt-in, off until ticked). */
const NOTIFY_KEY = "crosstalk.notify";

/** Shows the choice where the browser can notify, ticked when it was chosen and still allowed. */
function setUpNotify() {
  if (!("Notification" in window)) return;
  $("notify-choice").hidden = false;
  $("notify").checked = localStorage.getItem(NOTIFY_KEY) === "on" && Notification.permission === "granted";
}

async function chooseNotify() {
  if (!$("notify").checked) {
    localStorage.removeItem(NOTIFY_KEY);
    return;
  }
  const permission = Notification.permission === "granted"
    ? "granted"
    : await Notification.requestPermission();
  $("notify").checked = permission === "granted";
  if (permission === "granted") localStorage.setItem(NOTIFY_KEY, "on");
  else notice("The browser does not allow notifications for this page");
}

/** A desktop notification, when chosen and the page is not what the person looks at. */
function notify(title, body) {
  if (!$("notify").checked || !document.hidden) return;
  // Text only: a notification shows no markup.
  new Notification(title, { body, tag: "crosstalk" });
}

/** Runs run(form) when the form is sent; what it throws is shown by fail. */
function onSubmit(id, run, fail = showNotice) {
  $(id).addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await run(event.target);
    } catch (error) {
      fail(error);
    }
  });
}

/** Runs run() on a click; what it throws is shown by fail. */
function onClick(id, run, fail = showError) {
  $(id).addEventListener("click", async () => {
    try {
      await run();
    } catch (error) {
      fail(error);
    }
  });
}

onSubmit("login", async (form) => {
  $("login-error").textContent = "";
  const session = await api("POST", "/session", {
    username: form.elements.username.value,
    passphrase: form.elements.passphrase.value,
  });
  state.csrf = session.csrf;
  form.elements.passphrase.value = "";
  await start();
}, (error) => $("login-error").textContent = error.message);

onSubmit("send", async (form) => {
  $("send-error").textContent = "";
  notice("");
  if (!state.channel) throw new Error("Add a channel first");
  const body = { body: form.elements.body.value, channel: state.channel.id };
  // Left empty, the engine reads the addressees from the text's @mentions.
  const to = names(form.elements.to.value);
  if (to.length > 0) body.to = to;
  // Who not to wake, whatever "to" says (to all, except bob).
  const except = names(form.elements.exclude.value);
  if (except.length > 0) body.exclude = except;
  if (state.re) body.re = [state.re.id];
  const sent = await api("POST", "/api/messages", body);
  form.elements.body.value = "";
  cancelReply();
  if (state.channel && sent.channel === state.channel.id) showMessage(sent);
  // Sent outside the thread shown alone: every message shows again, the new one with them.
  if (state.thread && !threadOf(state.thread).has(sent.id)) {
    state.thread = null;
    showThread();
  }
  // Sent all the same: the engine only warns of a name nobody answers to (a typo, most often).
  if (sent.warnings?.length) notice("Sent, but: " + sent.warnings.join("; "));
}, showError);

function names(text) {
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}

function showWorkflowError(error) {
  $("workflow-error").textContent = error.message;
}

onClick("check-plan", async () => {
  $("workflow-error").textContent = "";
  $("checked-plan").hidden = true;
  const { plan } = await api("POST", "/api/workflows/check", {
    body: $("new-workflow").elements.body.value,
  });
  $("checked-plan-list").replaceChildren(...planItems(plan));
  $("checked-plan").hidden = false;
}, showWorkflowError);

/**
 * Has a model plan the text (the model in "to", or the transport's first one) and puts the text
 * with the plan in a fenced yaml block in its place, to review, edit, check and start.
 */
onClick("compose-plan", async () => {
  const form = $("new-workflow");
  const button = $("compose-plan");
  $("workflow-error").textContent = "";
  $("checked-plan").hidden = true;
  const to = form.elements.to.value.trim();
  const request = { text: form.elements.body.value };
  // "workflow" (or "workflow@machine") names no planner: the transport's first model plans it.
  if (to !== "" && to.split("@")[0] !== "workflow") request.to = to;
  const me = state.me;
  button.disabled = true;
  notice("Composing: waiting for the planner's reply");
  let composed;
  try {
    composed = await api("POST", "/api/workflows/compose", request);
  } finally {
    button.disabled = false;
    notice("");
  }
  // Signed out (or in as someone else) meanwhile: the form is no longer this request's.
  if (state.me !== me) return;
  form.elements.body.value = composed.request;
  // A written plan is run as it is: no model needs to plan it again.
  form.elements.to.value = "workflow";
  if (composed.problems.length > 0) {
    $("workflow-error").textContent = "The plan " + composed.planner +
      " wrote needs fixing before it can start: " + composed.problems.join("; ");
    return;
  }
  $("checked-plan-list").replaceChildren(...planItems(composed.plan));
  $("checked-plan").hidden = false;
}, showWorkflowError);

onSubmit("new-workflow", async (form) => {
  $("workflow-error").textContent = "";
  const sent = await api("POST", "/api/messages", {
    to: names(form.elements.to.value),
    body: form.elements.body.value,
    channel: form.elements.channel.value.trim(),
    type: "workflow",
  });
  form.elements.body.value = "";
  $("checked-plan").hidden = true;
  if (state.pendingWorkflow) clearTimeout(state.pendingWorkflow.timer);
  state.pendingWorkflow = { channel: sent.channel, id: sent.id, tries: 0, timer: 0 };
  closeWorkflow();
  notice("Requested: waiting for an engine to start the workflow");
  await refreshWorkflows();
}, showWorkflowError);

onSubmit("new-channel", async (form) => {
  const channel = await api("POST", "/api/channels", { name: form.elements.name.value });
  form.elements.name.value = "";
  state.channel = channel;
  await loadChannels();
}, showError);

onSubmit("search", async (form) => {
  const request = ++state.searchRequest;
  const query = form.elements.q.value;
  const channel = form.elements.here.checked ? state.channel : null;
  show("bus");
  let found;
  try {
    found = await api("GET", "/api/search?q=" + encodeURIComponent(query) +
      (channel ? "&channel=" + encodeURIComponent(channel.id) : ""));
  } catch (error) {
    // A later search answers instead.
    if (request !== state.searchRequest) return;
    closeSearch();
    throw error;
  }
  if (request === state.searchRequest) showFound(found, query, channel);
});
$("close-search").addEventListener("click", closeSearch);
$("close-thread").addEventListener("click", () => {
  state.thread = null;
  showThread();
});
$("tasks-all").addEventListener("change", () => refreshTasks());
$("approvals-all").addEventListener("change", () => {
  showApprovals();
  refreshApprovals();
});
$("notify").addEventListener("change", () => chooseNotify().catch(showNotice));

onClick("logout", async () => {
  await api("POST", "/session/logout");
  signedOut();
}, (error) => notice("Could not sign out: " + error.message));
$("cancel-reply").addEventListener("click", cancelReply);
const olderRow = $("older-row");
onClick("older", loadOlder);
for (const tab of document.querySelectorAll("#tabs button")) {
  tab.addEventListener("click", () => show(tab.dataset.view));
}

onClick("rename-channel", async () => {
  if (!state.channel) return;
  const name = prompt("New name for #" + state.channel.name);
  if (!name) return;
  state.channel = await api("PATCH", "/api/channels/" + state.channel.id, { name });
  await loadChannels();
});

onClick("delete-channel", async () => {
  if (!state.channel) return;
  if (!confirm("Delete #" + state.channel.name + " and all its messages?")) return;
  await api("DELETE", "/api/channels/" + state.channel.id);
  state.channel = null;
  await loadChannels();
});

onSubmit("add-badge", async (form) => {
  if (!state.open) return;
  const value = form.elements.value.value;
  await api("POST", messagePath(state.open) + "/badges", {
    type: form.elements.type.value,
    ...(value ? { value } : {}),
  });
  form.reset();
  await showDelivery(state.open);
});

onSubmit("tmux-find", findPanes);

onSubmit("mint", async (form) => {
  const minted = await api("POST", "/api/tokens", {
    name: form.elements.name.value,
    ttl_seconds: Number(form.elements.days.value) * 86400,
  });
  form.elements.name.value = "";
  $("minted").hidden = false;
  $("minted-token").textContent = minted.token;
  await loadTokens();
});

onSubmit("passphrase", async (form) => {
  await api("POST", "/api/users/" + encodeURIComponent(state.me) + "/passphrase", {
    passphrase: form.elements.passphrase.value,
  });
  form.elements.passphrase.value = "";
  notice("Passphrase changed");
});

onSubmit("new-user", async (form) => {
  await api("POST", "/api/users", {
    username: form.elements.username.value,
    passphrase: form.elements.passphrase.value,
    admin: form.elements.admin.checked,
  });
  form.reset();
  await loadUsers();
});
$("close-details").addEventListener("click", closeDelivery);
$("log-filter").addEventListener("input", filterLogs);
$("log-level").addEventListener("change", filterLogs);
$("log-pause").addEventListener("click", () => {
  const logs = state.logs;
  if (!logs) return;
  logs.paused = !logs.paused;
  $("log-pause").textContent = logs.paused ? "Resume" : "Pause";
  if (!logs.paused) {
    for (const record of logs.held) appendLog(record);
    logs.held = [];
  }
  showHeld();
});

start();
`;

/** The style: a three-column layout that folds on a narrow screen. */
export const WEB_CSS = `:root { color-scheme: light dark; font: 15px/1.45 system-ui, sans-serif; }
body { margin: 0; }
input, textarea, select { box-sizing: border-box; max-width: 100%; }
[hidden] { display: none !important; }
#login { max-width: 22rem; margin: 10vh auto; display: grid; gap: .75rem; }
#login label { display: grid; gap: .25rem; }
#app { display: grid; grid-template: "head head head" auto "nav main details" 1fr "nav notice details" auto / 14rem 1fr auto; height: 100vh; }
section { grid-column: 1 / 3; grid-row: 2; padding: .5rem 1rem; overflow: auto; }
#notice { grid-area: notice; margin: 0; padding: 0 1rem .5rem; min-height: 1em; }
#tabs { display: flex; gap: .5rem; margin-left: 1rem; }
#tabs button.current { font-weight: bold; }
table { border-collapse: collapse; } td, th { text-align: left; padding: .2rem .75rem .2rem 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } dd { margin: 0; }
.reply { margin-left: 1.5rem; } .quote { font-size: .9em; }
.chips .badge { margin-left: .35rem; } .badge.tag { background: none; box-shadow: inset 0 0 0 1px #8887; }
.replies[aria-pressed=true] { font-weight: bold; } #thread { margin: .25rem 0; }
.peer .about { font-size: .85em; overflow-wrap: anywhere; }
#tmux-agents .actions { gap: .4rem; }
#tmux-agents-note { white-space: pre-line; }
#tmux-find { display: flex; flex-wrap: wrap; gap: .4rem; margin: .75rem 0 .5rem; }
#tmux-find input { flex: 1; min-width: 12rem; max-width: 30rem; }
.scroll-x { overflow-x: auto; } #tmux-candidates td:nth-child(5) { overflow-wrap: anywhere; min-width: 10rem; }
.add-pane { display: flex; gap: .4rem; } .add-pane input { width: 10rem; }
code { overflow-wrap: anywhere; }
header { grid-area: head; display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; padding: .5rem 1rem; border-bottom: 1px solid #8884; }
.spacer { flex: 1; }
#search { display: flex; gap: .4rem; align-items: center; }
#search-results { flex: none; max-height: 40vh; overflow: auto; border-bottom: 1px solid #8884; margin-bottom: .5rem; }
#found { list-style: none; padding: 0; margin: 0; } #found li { padding: .25rem 0; }
#found button.link { overflow-wrap: anywhere; text-align: left; }
nav { grid-area: nav; padding: .5rem 1rem; border-right: 1px solid #8884; overflow: auto; }
nav ul { list-style: none; padding: 0; margin: 0 0 1rem; }
main { grid-area: main; display: flex; flex-direction: column; min-height: 0; min-width: 0; padding: 0 1rem; }
#messages { flex: 1; overflow: auto; list-style: none; padding: 0; margin: 0; }
.message { padding: .5rem 0; border-bottom: 1px solid #8882; overflow-wrap: anywhere; }
.body { white-space: pre-wrap; margin: .25rem 0; }
.body p, .body ul, .body ol, .body pre, .body blockquote { margin: .35rem 0; }
.body > :first-child { margin-top: 0; } .body > :last-child { margin-bottom: 0; }
.body ul, .body ol { padding-left: 1.5rem; } .body .heading { font-weight: bold; }
.body blockquote { margin-left: 0; padding-left: .75rem; border-left: 3px solid #8886; }
.body code { font: .9em/1.4 ui-monospace, monospace; background: #8882; padding: 0 .2em; border-radius: .2em; }
.body pre { white-space: pre; overflow-wrap: normal; overflow-x: auto; padding: .4rem .6rem; background: #8881; }
.body pre code { background: none; padding: 0; }
.body hr { border: none; border-top: 1px solid #8884; }
.actions { display: flex; gap: .5rem; }
.columns { display: grid; grid-template-columns: minmax(18rem, 1fr) minmax(18rem, 1.2fr); gap: 0 2rem; align-content: start; }
#new-workflow { display: grid; gap: .5rem; } #new-workflow p { margin: 0; }
#new-workflow textarea { font-family: ui-monospace, monospace; }
#workflow-plan li, #checked-plan-list li { white-space: pre-wrap; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 .5em; border-radius: .75em; font-size: .85em; font-weight: normal; background: #8883; }
.phase-complete, .task-completed { background: #2a8a3e44; } .phase-failed, .task-failed { background: #c0392b44; }
.task-claimed { background: #d4a01744; }
.badge.count { background: #c0392b; color: #fff; font-weight: bold; }
#approval-list { list-style: none; padding: 0; margin: .5rem 0; }
.approval { padding: .5rem 0; border-bottom: 1px solid #8882; }
.approval pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: .25rem 0; padding: .4rem .6rem; background: #8881; font-family: ui-monospace, monospace; max-height: 20rem; overflow: auto; }
.decide { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; } .decide input { flex: 1; min-width: 12rem; max-width: 30rem; }
.outcome { margin: .25rem 0; }
.approval-allowed { background: #2a8a3e44; } .approval-denied { background: #c0392b44; }
tr.current td { font-weight: bold; }
.log-controls { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
#log-lines { list-style: none; padding: 0; margin: 0; font: .85em/1.4 ui-monospace, monospace; }
#log-lines li { white-space: pre-wrap; overflow-wrap: anywhere; }
.log-debug { opacity: .65; } .log-warn { color: #b7791f; } .log-error { color: #c0392b; }
form.reset { display: inline-flex; gap: .4rem; } form.reset input { width: 11rem; }
#send { display: grid; gap: .5rem; padding: .5rem 0 1rem; }
aside { grid-area: details; width: 18rem; padding: .5rem 1rem; border-left: 1px solid #8884; overflow-wrap: anywhere; }
h1 { margin: 0; } h2 { font-size: 1rem; margin: .75rem 0 .25rem; } h3 { font-size: .95rem; margin: .75rem 0 .25rem; }
.muted { opacity: .65; } .ok { color: #2a8a3e; } .error { color: #c0392b; min-height: 1em; }
button.link { background: none; border: none; padding: 0; color: inherit; text-decoration: underline; cursor: pointer; font: inherit; }
button.current { font-weight: bold; text-decoration: none; }
@media (max-width: 48rem) {
  /* One column, the channels and peers above the messages; the page scrolls, the messages too. */
  #app { grid-template: "head" auto "nav" auto "main" auto "notice" auto "details" auto / minmax(0, 1fr); height: auto; min-height: 100vh; }
  section { grid-column: 1; grid-row: 2 / 4; }
  nav, aside { border: none; width: auto; } nav { border-bottom: 1px solid #8884; }
  #messages { flex: none; max-height: 65vh; }
  #tabs { flex-wrap: wrap; margin-left: 0; } .spacer { display: none; }
  #search { flex-wrap: wrap; flex: 1 1 100%; } #search input[type=search] { flex: 1; min-width: 8rem; }
  .columns { grid-template-columns: 1fr; }
}
`;
