// invoke() with real child processes: the prompt as the last argument or on stdin, a process
// group of the CLI's own that a timeout kills whole, the output cap, and a CLI that cannot start.
import assert from "node:assert/strict";
import { join } from "node:path";
import { invoke, type InvokeOptions, STDIN_THRESHOLD, TIMEOUT_EXIT } from "../../engine/invoke.ts";
import { tempDir, waitUntil } from "../_helpers.ts";

async function script(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

function options(argv: string[], prompt: string, cwd: string): InvokeOptions {
  return {
    argv,
    prompt,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    cwd,
    timeoutMs: 10_000,
    maxOutputBytes: 1024 * 1024,
  };
}

/** Whether `pid` runs (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
}

Deno.test("invoke passes the prompt as the last argument, after the command line's own", async () => {
  await using dir = await tempDir();
  const argv = await script(dir.path, "args.sh", `for a; do printf '[%s]' "$a"; done`);
  const result = await invoke(options([argv, "--print", "-x"], "hello there", dir.path));
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "[--print][-x][hello there]");
});

Deno.test("invoke puts a prompt above 64 KiB on stdin instead of the command line", async () => {
  await using dir = await tempDir();
  const count = await script(dir.path, "count.sh", `echo "args=$#"; wc -c | tr -d ' '`);
  const prompt = "p".repeat(STDIN_THRESHOLD + 1);
  const result = await invoke(options([count, "--flag"], prompt, dir.path));
  assert.equal(result.stdout, `args=1\n${prompt.length}\n`);
});

Deno.test("invoke runs the CLI in a session and process group of its own", async () => {
  await using dir = await tempDir();
  // Field 6 of /proc/self/stat is the session id, field 5 the process group.
  const ids = await script(dir.path, "ids.sh", `echo $$; cut -d' ' -f5,6 /proc/$$/stat`);
  const result = await invoke(options([ids], "x", dir.path));
  const [pid, ids2] = result.stdout.trim().split("\n");
  assert.equal(ids2, `${pid} ${pid}`);
  const ownGroup = Deno.readTextFileSync("/proc/self/stat").split(" ")[4];
  assert.notEqual(ownGroup, pid);
});

/** A CLI that starts a child (its pid in `pidFile`), then runs `rest`. */
function withChild(dir: string, name: string, rest: string) {
  const pidFile = join(dir, `${name}.pid`);
  return {
    path: script(dir, `${name}.sh`, `sleep 1000 & echo $! > "${pidFile}"; ${rest}`),
    child: async () => Number(await Deno.readTextFile(pidFile)),
  };
}

Deno.test("invoke kills the whole process group on timeout and records exit 124", async () => {
  await using dir = await tempDir();
  const hang = withChild(dir.path, "hang", "exec sleep 1000");
  const result = await invoke({ ...options([await hang.path], "x", dir.path), timeoutMs: 300 });
  assert.equal(result.timedOut, true);
  assert.equal(result.code, TIMEOUT_EXIT);
  const child = await hang.child();
  await waitUntil(() => !alive(child), 5_000, "the CLI's child to be killed");
});

Deno.test("invoke kills what the CLI left running once it exits", async () => {
  await using dir = await tempDir();
  const orphan = withChild(dir.path, "orphan", "echo done");
  const result = await invoke(options([await orphan.path], "x", dir.path));
  assert.equal(result.stdout, "done\n");
  const child = await orphan.child();
  await waitUntil(() => !alive(child), 5_000, "the leftover child to be killed");
});

Deno.test("invoke answers with the output of a CLI whose child left its group and holds the pipes, without waiting for that child or calling it a timeout", async () => {
  await using dir = await tempDir();
  // A daemon-like child in a session of its own, still holding the inherited stdout.
  const pidFile = join(dir.path, "escaped.pid");
  const escape = await script(
    dir.path,
    "escape.sh",
    `setsid sh -c 'echo $$ > "${pidFile}"; exec sleep 30' &\nsleep 0.2\necho answered`,
  );
  const started = performance.now();
  const result = await invoke({ ...options([escape], "x", dir.path), timeoutMs: 20_000 });
  assert.equal(result.code, 0);
  assert.equal(result.timedOut, false);
  assert.equal(result.stdout, "answered\n");
  assert.ok(performance.now() - started < 15_000, "not held until the child ends");
  Deno.kill(Number((await Deno.readTextFile(pidFile)).trim()), "SIGKILL");
});

Deno.test("invoke hands a prompt with a NUL to the CLI on stdin (an argument cannot hold one)", async () => {
  await using dir = await tempDir();
  const count = await script(dir.path, "count.sh", `echo "args=$#"; wc -c | tr -d ' '`);
  const result = await invoke(options([count], "before\0after", dir.path));
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "args=0\n12\n");
});

Deno.test("invoke keeps at most maxOutputBytes of stdout and counts the rest", async () => {
  await using dir = await tempDir();
  const huge = await script(dir.path, "huge.sh", `head -c 100000 /dev/zero | tr '\\0' x`);
  const result = await invoke({ ...options([huge], "x", dir.path), maxOutputBytes: 1000 });
  assert.equal(result.stdout, "x".repeat(1000));
  assert.equal(result.droppedStdout, 99_000);
});

Deno.test("invoke throws NotFound for a CLI that does not exist, and PermissionDenied for one that is not executable", async () => {
  await using dir = await tempDir();
  await assert.rejects(
    invoke(options([join(dir.path, "no-such-cli")], "x", dir.path)),
    (error: Error) => error instanceof Deno.errors.NotFound && /no-such-cli/.test(error.message),
  );
  const plain = join(dir.path, "plain.sh");
  await Deno.writeTextFile(plain, "echo hi\n");
  await assert.rejects(
    invoke(options([plain], "x", dir.path)),
    (error: Error) => error instanceof Deno.errors.PermissionDenied,
  );
});

Deno.test("invoke reports a CLI's own exit code 127 as its exit code, not as a missing CLI", async () => {
  await using dir = await tempDir();
  const fails = await script(dir.path, "fails.sh", `echo "oops: not here" >&2; exit 127`);
  const result = await invoke(options([fails], "x", dir.path));
  assert.equal(result.code, 127);
  assert.equal(result.stderr, "oops: not here\n");
});
