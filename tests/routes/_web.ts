// The web UI's browser tests' common parts: a headless Debian chromium (driven by
// playwright-core), a real engine on loopback whose first user is boss, and signing in.
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { which } from "../../engine/which.ts";
import { AGENTS, EngineProcess, makeTransport } from "../engine/_harness.ts";

export const BOSS = { username: "boss", passphrase: "the boss passphrase" };

/** A headless chromium; closing it ends the browser process. */
export async function browser(): Promise<Browser & AsyncDisposable> {
  // Debian's chromium (scripts/setup_test_deps.sh installs it), or another one named here.
  const path = Deno.env.get("CROSSTALK_TEST_CHROMIUM") ??
    await which("chromium", Deno.env.toObject());
  if (!path) throw new Error("No chromium on PATH: run scripts/setup_test_deps.sh");
  const launched = await chromium.launch({
    executablePath: path,
    // The tests run as root in CI, where chromium's sandbox cannot start.
    args: ["--no-sandbox"],
  });
  return Object.assign(launched, { [Symbol.asyncDispose]: () => launched.close() });
}

/** A new page whose script errors are collected; waits fail after 15 s. */
export async function newPage(chrome: Browser): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await chrome.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  return { page, pageErrors };
}

/** Options for {@linkcode engineWithBoss}. */
export interface EngineWithBossOptions {
  /** The provider `test`'s models: name to script in tests/testdata/agents; default reply. */
  models?: Record<string, string>;
  /** More models of `test`, as command lines (`echo: "crosstalk agent echo"`). */
  commands?: Record<string, string>;
  /** Runs on the transport before the engine starts. */
  beforeStart?: (root: string) => Promise<void>;
}

/** An engine on a local transport with test models, whose first user is boss; its API's URL. */
export async function engineWithBoss(
  home: string,
  options: EngineWithBossOptions = {},
): Promise<{ engine: EngineProcess; url: string; root: string }> {
  const root = join(home, "transport");
  const models = [
    ...Object.entries(options.models ?? { reply: "reply.sh" })
      .map(([name, script]) => `      ${name}: ${join(AGENTS, script)}\n`),
    ...Object.entries(options.commands ?? {}).map(([name, line]) => `      ${name}: ${line}\n`),
  ];
  await makeTransport(root, `providers:\n  test:\n    models:\n${models.join("")}`);
  await options.beforeStart?.(root);
  const engine = await EngineProcess.start(root, {
    alias: "a",
    state: join(home, "state"),
    env: { CROSSTALK_INIT_USERNAME: BOSS.username, CROSSTALK_INIT_PASSPHRASE: BOSS.passphrase },
  });
  const url = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  return { engine, url, root };
}

export async function signIn(page: Page, username: string, passphrase: string): Promise<void> {
  await page.fill("#login input[name=username]", username);
  await page.fill("#login input[name=passphrase]", passphrase);
  await page.click("#login button[type=submit]");
}

/** Opens the web UI at `url` as boss and waits until it shows #general and follows the bus live. */
export async function openLiveAsBoss(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/ui/`);
  await signIn(page, BOSS.username, BOSS.passphrase);
  await page.locator("#channel-title", { hasText: /^#general$/ }).waitFor();
  await page.locator("#live-state", { hasText: /^live$/ }).waitFor();
}

/** The status of a login as `username` through the API. */
export async function loginStatus(url: string, username: string, passphrase: string) {
  const response = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, passphrase }),
  });
  await response.body?.cancel();
  return response.status;
}

/** A call to the engine's API as `as`, beside the page: the answer's JSON, its status checked. */
export type ApiCall = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** Signs in to the API as `user` and gives a way to call it with the token got. */
export async function apiAs(url: string, user: typeof BOSS): Promise<ApiCall> {
  const login = await fetch(`${url}/api/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(user),
  });
  const { token } = await login.json();
  return async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = await response.json();
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json as T;
  };
}
