// Approvals end to end: Claude Code's PreToolUse hook (`crosstalk approval hook`, run from the
// command `approval install` wrote into its settings) asks a real engine; a person decides with
// the CLI.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { cliEnv, MAIN, runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import type { Approval } from "../../engine/approvals.ts";
import { McpSession } from "../../scripts/_mcp_session.ts";

const FAKE_CLAUDE = fileURLToPath(new URL("../testdata/approvals/fake_claude.ts", import.meta.url));

const HOOK_INPUT = JSON.stringify({
  session_id: "s-1",
  cwd: "/work/app",
  hook_event_name: "PreToolUse",
  tool_name: "Bash",
  tool_input: { command: "rm -rf build" },
});

/** Runs a shell command line as Claude Code runs a hook: stdin is the event, stdout the answer. */
async function runHook(command: string, home: string, cwd: string) {
  const child = new Deno.Command("sh", {
    args: ["-c", command],
    cwd,
    clearEnv: true,
    env: cliEnv({ home }),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(HOOK_INPUT));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("a tool use asked through the installed hook waits on the bus until a person allows or denies it", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const project = join(home, "project");
  await Deno.mkdir(join(project, ".claude"), { recursive: true });
  await Deno.writeTextFile(
    join(project, ".claude", "settings.json"),
    JSON.stringify({ permissions: { allow: ["Read"] } }),
  );
  const { root } = namedTransport(home);
  await makeTransport(root, "");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state: namedTransport(home).state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  const cli = (...args: string[]) =>
    runCrosstalk([...args, "--containername", "team"], { home, cwd: project });

  const installed = await cli("approval", "install", "--wait", "20");
  assert.equal(installed.code, 0, installed.stderr);
  const settings = JSON.parse(await Deno.readTextFile(join(project, ".claude", "settings.json")));
  assert.deepEqual(settings.permissions, { allow: ["Read"] }, "the user's settings stay");
  const [group] = settings.hooks.PreToolUse;
  assert.equal(group.matcher, "Bash|Write|Edit|MultiEdit");
  const command = group.hooks[0].command as string;
  assert.match(command, / approval hook --wait 20 --containername team$/);
  assert.equal(group.hooks[0].timeout, 50);

  // Allowed: the hook, waiting, gets the decision and answers Claude Code with it.
  const asking = runHook(command, home, project);
  const pending = await waitUntil(async () => {
    const listed = JSON.parse((await cli("approval", "list", "--json")).stdout);
    return listed.length === 1 ? listed[0] : undefined;
  });
  assert.equal(pending.tool, "Bash");
  assert.deepEqual(pending.input, { command: "rm -rf build" });
  assert.equal(pending.cwd, "/work/app");
  assert.match((await cli("approval", "list")).stdout, /pending\s+claude\s+Bash\s+rm -rf build/);
  const allowed = await cli("approval", "allow", pending.id.slice(0, 8));
  assert.equal(allowed.code, 0, allowed.stderr);
  const answer = await asking;
  assert.equal(answer.code, 0);
  assert.deepEqual(JSON.parse(answer.stdout).hookSpecificOutput, {
    hookEventName: "PreToolUse",
    permissionDecision: "allow",
    permissionDecisionReason: "Allowed by boss on the crosstalk bus",
  });

  // Denied, with a reason the agent is told.
  const asking2 = runHook(command, home, project);
  const second = await waitUntil(async () => {
    const listed = JSON.parse((await cli("approval", "list", "--json")).stdout);
    return listed.length === 1 ? listed[0] : undefined;
  });
  await cli("approval", "deny", second.id, "--reason", "clean with make clean");
  const denied = JSON.parse((await asking2).stdout).hookSpecificOutput;
  assert.equal(denied.permissionDecision, "deny");
  assert.equal(
    denied.permissionDecisionReason,
    "Denied by boss on the crosstalk bus: clean with make clean",
  );
  const again = await cli("approval", "allow", second.id);
  assert.equal(again.code, 75, "decided already");
  assert.match(again.stderr, /This approval is denied by boss/);

  // Nobody answers in time: no output, so Claude Code asks in its terminal as usual. The request
  // expires as the hook stops waiting: a decision after that would reach nobody, so it is refused.
  const quick = await runHook(command.replace("--wait 20", "--wait 1"), home, project);
  assert.equal(quick.code, 0);
  assert.equal(quick.stdout, "");
  assert.match(quick.stderr, /no decision on the bus \(expired\); asking here/);
  assert.match((await cli("approval", "list")).stderr, /No approvals waiting/);
  const all = JSON.parse((await cli("approval", "list", "--all", "--json")).stdout) as Approval[];
  const late = await cli("approval", "allow", all.find((a) => a.state === "expired")!.id);
  assert.equal(late.code, 75);
  assert.match(late.stderr, /This approval is expired/);

  const removed = await cli("approval", "uninstall");
  assert.equal(removed.code, 0, removed.stderr);
  assert.deepEqual(
    JSON.parse(await Deno.readTextFile(join(project, ".claude", "settings.json"))),
    { permissions: { allow: ["Read"] } },
  );
});

Deno.test("an approval says which live agent asks: the session whose agent CLI runs the hook", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  await makeTransport(root, "");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  await engine.waitFor((r) => r.event === "api.listening");
  const cli = (...args: string[]) => runCrosstalk([...args, "--containername", "team"], { home });
  // Another session of the transport, started by another process: not the one that asks.
  await using _bob = await McpSession.start(home, [
    ...["--containername", "team", "--name", "bob", "--wake", "pull"],
  ]);
  const hook = `"${Deno.execPath()}" run -A --quiet "${MAIN}" approval hook --wait 20 ` +
    "--containername team";
  const server = [Deno.execPath(), "run", "-A", "--quiet", MAIN, "mcp", "--containername", "team"];
  const claude = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", FAKE_CLAUDE],
    clearEnv: true,
    env: cliEnv({
      home,
      env: {
        HOOK_COMMAND: hook,
        MCP_SERVER: JSON.stringify([...server, "--name", "ann", "--wake", "pull"]),
      },
    }),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const pending = await waitUntil(async () => {
    const listed = JSON.parse((await cli("approval", "list", "--json")).stdout) as Approval[];
    return listed.length === 1 ? listed[0] : undefined;
  });
  assert.equal(pending.name, "ann");
  assert.match((await cli("approval", "list")).stdout, /pending\s+ann\s+Bash\s+make clean/);
  assert.equal((await cli("approval", "allow", pending.id)).code, 0);
  const out = await claude.output();
  assert.equal(out.code, 0);
  assert.match(new TextDecoder().decode(out.stdout), /^hook: .*"permissionDecision":"allow"/);
  // A hook of an agent CLI that runs no session, started from a shell, says no name.
  const other = new Deno.Command("sh", {
    args: ["-c", `"${Deno.execPath()}" run -A --quiet "${FAKE_CLAUDE}"; true`],
    clearEnv: true,
    env: cliEnv({ home, env: { HOOK_COMMAND: hook } }),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const anonymous = await waitUntil(async () => {
    const listed = JSON.parse((await cli("approval", "list", "--json")).stdout) as Approval[];
    return listed.length === 1 ? listed[0] : undefined;
  });
  assert.equal(anonymous.name, undefined);
  assert.equal((await cli("approval", "deny", anonymous.id)).code, 0);
  assert.match(
    new TextDecoder().decode((await other.output()).stdout),
    /"permissionDecision":"deny"/,
  );
});

Deno.test("the approval hook without an engine answers nothing, so the agent CLI asks in its terminal", async () => {
  await using dir = await tempDir();
  const result = await runCrosstalk(["approval", "hook", "--containername", "none"], {
    home: dir.path,
    stdin: HOOK_INPUT,
  });
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /cannot ask the bus \(.*\); asking here/);
  const garbled = await runCrosstalk(["approval", "hook"], { home: dir.path, stdin: "not json" });
  assert.equal(garbled.code, 0);
  assert.match(garbled.stderr, /The hook's input is not JSON/);
});

Deno.test("an approval hook installed with --profile asks that profile's engine, whichever profile is in use later", async () => {
  await using dir = await tempDir();
  const home = join(dir.path, "home");
  const project = join(home, "project");
  await Deno.mkdir(project, { recursive: true });
  const engines: Record<string, string> = {};
  await using stack = new AsyncDisposableStack();
  for (const alias of ["far", "near"]) {
    const root = join(dir.path, alias, "bus");
    await makeTransport(root, "");
    const engine = stack.use(
      await EngineProcess.start(root, {
        alias,
        state: join(dir.path, alias, "state"),
        env: { CROSSTALK_INIT_USERNAME: "ann", CROSSTALK_INIT_PASSPHRASE: "ann's passphrase" },
      }),
    );
    engines[alias] = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
    const login = await runCrosstalk(
      ["--server", engines[alias]!, "--profile", alias, "auth", "login", "--username", "ann"],
      { home, stdin: "ann's passphrase\n" },
    );
    assert.equal(login.code, 0, login.stderr);
  }
  const cli = (...args: string[]) => runCrosstalk(args, { home, cwd: project });
  const installed = await cli("--profile", "far", "approval", "install", "--wait", "20");
  assert.equal(installed.code, 0, installed.stderr);
  const settings = JSON.parse(await Deno.readTextFile(join(project, ".claude", "settings.json")));
  const command = settings.hooks.PreToolUse[0].hooks[0].command as string;
  assert.match(command, / approval hook --wait 20 --profile far$/);
  assert.equal((await cli("auth", "use", "near")).code, 0);

  const asking = runHook(command, home, project);
  const pending = await waitUntil(async () => {
    const listed = JSON.parse((await cli("--profile", "far", "approval", "list", "--json")).stdout);
    return listed.length === 1 ? listed[0] : undefined;
  });
  assert.match((await cli("approval", "list")).stderr, /No approvals waiting/, "not near's");
  assert.equal((await cli("--profile", "far", "approval", "allow", pending.id)).code, 0);
  const answer = await asking;
  assert.equal(JSON.parse(answer.stdout).hookSpecificOutput.permissionDecision, "allow");
});
