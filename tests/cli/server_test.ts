// `crosstalk server …` against a real background engine on a temp local transport.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import { expectCode, initTransport, runCrosstalk } from "./_cli.ts";
import { V8_FLAGS } from "../../engine/which.ts";

const USER_MODE = { CROSSTALK_USER_MODE: "1" };

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** Kills engines a failed test left running, so that one failure does not leak processes. */
function killAll(pids: Set<number>): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

function startedPid(stdout: string): number {
  const match = /^Started the engine \(pid (\d+)\) for /m.exec(stdout);
  assert.ok(match, stdout);
  return Number(match[1]);
}

Deno.test({
  name:
    "server start runs the engine detached, refuses a second start, restart replaces it, stop ends it",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using dir = await tempDir();
    const home = dir.path;
    const root = await initTransport(home, "bus");
    const pids = new Set<number>();
    const run = (args: string[], code: number) =>
      expectCode(code, ["server", ...args, "--path", root], { home, env: USER_MODE });
    try {
      const started = await run(["start"], 0);
      const pid = startedPid(started.stdout);
      pids.add(pid);
      assert.ok(alive(pid), "the engine outlives the start command");
      const argv = (await Deno.readTextFile(`/proc/${pid}/cmdline`)).split("\0");
      assert.ok(argv.includes(V8_FLAGS), `the engine runs with crosstalk's V8 flags: ${argv}`);
      assert.match(started.stdout, /api: http:\/\/127\.0\.0\.1:\d+/);
      // The engine is ready when start returns: its API answers at once.
      const status = await run(["status", "--probe", "--json"], 0);
      const report = JSON.parse(status.stdout);
      assert.equal(report.running, true);
      assert.equal(report.pid, pid);
      assert.equal(report.probe.ok, true);
      assert.equal(report.probe.status, 200);
      assert.equal(
        (await Deno.readTextFile(join(report.stateDir, "engine.pid"))).trim(),
        String(pid),
      );

      const second = await run(["start"], 73);
      assert.match(second.stderr, new RegExp(`An engine \\(pid ${pid}\\) is already running`));
      assert.ok(alive(pid), "a refused start leaves the running engine alone");

      const text = await run(["status"], 0);
      assert.match(text.stdout, new RegExp(`engine: +running \\(pid ${pid}, alive, heartbeat`));
      assert.match(text.stdout, /^api: +http:\/\/127\.0\.0\.1:\d+ \(--probe asks it\)$/m);

      const restarted = await run(["restart"], 0);
      assert.match(restarted.stdout, new RegExp(`Stopped the engine \\(pid ${pid}\\)`));
      const next = startedPid(restarted.stdout);
      pids.add(next);
      assert.notEqual(next, pid);
      assert.ok(!alive(pid), "restart stopped the first engine");
      assert.ok(alive(next));

      const logs = await run(["logs", "--json"], 0);
      const events = logs.stdout.trim().split("\n").map((line) => JSON.parse(line).event);
      assert.ok(events.includes("engine.stopped") && events.includes("engine.ready"), logs.stdout);

      const stopped = await run(["stop"], 0);
      assert.match(stopped.stdout, new RegExp(`Stopped the engine \\(pid ${next}\\)`));
      assert.ok(!alive(next), "stop returns once the engine has exited");
      const after = await run(["status", "--probe"], 1);
      assert.match(after.stdout, /engine: +not running \(pid \d+ stopped cleanly\)/);
      assert.match(after.stdout, /api: .* not answering/);
      // Another server that took the port since is not taken for this engine's API.
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(after.stdout)![1]);
      let squatter: Deno.HttpServer | undefined;
      try {
        squatter = Deno.serve(
          { hostname: "127.0.0.1", port, onListen() {} },
          () => Response.json({ ok: true }),
        );
      } catch {
        // Another test's engine has the port already: the same case.
      }
      const taken = await run(["status", "--probe"], 1);
      await squatter?.shutdown();
      assert.match(taken.stdout, /api: .* not answering: the engine is not running/);
      const again = await run(["stop"], 0);
      assert.match(again.stdout, /No engine is running/);
    } finally {
      killAll(pids);
    }
  },
});

Deno.test("server start reports an engine that exits before it is ready, with its output", async () => {
  await using dir = await tempDir();
  const missing = join(dir.path, "no-such-bus");
  const failed = await runCrosstalk(["server", "start", "--path", missing], {
    home: dir.path,
    env: USER_MODE,
  });
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, /The engine exited \(code \d+\) before it was ready/);
  assert.ok(failed.stderr.includes(missing), failed.stderr);
});

Deno.test("server commands in system mode print the systemctl command and start nothing", async () => {
  await using dir = await tempDir();
  for (const verb of ["start", "stop", "restart", "status"]) {
    const hinted = await expectCode(
      0,
      ["server", verb, "--system", "--containername", "main"],
      { home: dir.path },
    );
    const manager = Deno.build.os === "darwin"
      ? "sudo launchctl "
      : `sudo systemctl ${verb} crosstalk@main.service`;
    assert.ok(hinted.stdout.includes(manager), hinted.stdout);
  }
  // The crosstalk user is in system mode without --system.
  const asService = await expectCode(0, ["server", "start"], {
    home: dir.path,
    env: { USER: "crosstalk" },
  });
  assert.match(asService.stdout, /In system mode/);
  await assert.rejects(Deno.stat(join(dir.path, ".local", "state", "crosstalk")));
});

Deno.test("server commands in system mode name the service of a --path under /var/lib/crosstalk, and refuse any other path", async () => {
  await using dir = await tempDir();
  const hinted = await expectCode(
    0,
    ["server", "stop", "--system", "--path", "/var/lib/crosstalk/main/transport"],
    { home: dir.path },
  );
  assert.ok(hinted.stdout.includes('runs the engine of "main"'), hinted.stdout);
  const elsewhere = join(dir.path, "bus");
  for (const verb of ["start", "status"]) {
    const refused = await expectCode(64, ["server", verb, "--system", "--path", elsewhere], {
      home: dir.path,
    });
    assert.ok(refused.stderr.includes(`"${elsewhere}" is none of them`), refused.stderr);
    assert.match(refused.stderr, /add --user/);
  }
  await assert.rejects(Deno.stat(join(dir.path, ".local", "state", "crosstalk")));
});

Deno.test("server start --user and --system together is a usage error", async () => {
  await using dir = await tempDir();
  const both = await runCrosstalk(["server", "start", "--user", "--system"], { home: dir.path });
  assert.equal(both.code, 64);
  assert.match(both.stderr, /either --user or --system/);
});

Deno.test({
  name:
    "daemon init and daemon stop do what transport init and server stop do, under Crosstalk 8's names",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using dir = await tempDir();
    const home = dir.path;
    const root = join(home, "bus");
    const pids = new Set<number>();
    try {
      const init = await expectCode(0, ["daemon", "init", root, "--transport", "local"], { home });
      assert.match(init.stdout, new RegExp(root));
      assert.equal((await Deno.readTextFile(join(root, "CROSSTALK-VERSION"))).trim(), "8");
      assert.match(
        await Deno.readTextFile(join(root, "data", "crosstalk.yaml")),
        /^transport: local/m,
      );
      const again = await runCrosstalk(["daemon", "init", root], { home });
      assert.equal(again.code, 73, "refuses to overwrite, as transport init does");

      const started = await expectCode(0, ["server", "start", "--path", root], {
        home,
        env: USER_MODE,
      });
      const pid = startedPid(started.stdout);
      pids.add(pid);
      const stopped = await expectCode(0, ["daemon", "stop", "--path", root], {
        home,
        env: USER_MODE,
      });
      assert.match(stopped.stdout, new RegExp(`Stopped the engine \\(pid ${pid}\\)`));
      assert.ok(!alive(pid));
    } finally {
      killAll(pids);
    }
  },
});
