// Machines that are really apart: three network namespaces on one box (the remote, a and b) on a
// bridge with addresses of their own, the remote served by `git daemon`, each engine reachable
// only at its namespace's address. A pinned message goes from a to b and back, b fetching on a's
// nudge, and a bare message runs exactly once. Needs root (ip netns); skipped without it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { cliEnv, MAIN, tempDir, waitUntil } from "../_helpers.ts";
import { AGENTS, EngineProcess, openBus } from "./_harness.ts";

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Whether this process may make network namespaces (root with iproute2). */
async function canMakeNamespaces(): Promise<boolean> {
  const name = `ct-probe-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await ip("netns", "add", name);
    await ip("netns", "del", name);
    return true;
  } catch {
    return false;
  }
}

/** Three namespaces on a bridge in the first one, each with an address of its own. */
async function namespaces() {
  const tag = crypto.randomUUID().slice(0, 6);
  const names = { r: `ct-${tag}-r`, a: `ct-${tag}-a`, b: `ct-${tag}-b` };
  const subnet = `10.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}`;
  const address = { r: `${subnet}.1`, a: `${subnet}.2`, b: `${subnet}.3` };
  for (const ns of Object.values(names)) {
    await ip("netns", "add", ns);
    await ip("-n", ns, "link", "set", "lo", "up");
  }
  await ip("-n", names.r, "link", "add", "br0", "type", "bridge");
  await ip("-n", names.r, "addr", "add", `${address.r}/24`, "dev", "br0");
  await ip("-n", names.r, "link", "set", "br0", "up");
  for (const side of ["a", "b"] as const) {
    const [here, there] = [`ct${tag}${side}0`, `ct${tag}${side}1`];
    await ip("link", "add", here, "type", "veth", "peer", "name", there);
    await ip("link", "set", here, "netns", names.r);
    await ip("link", "set", there, "netns", names[side]);
    await ip("-n", names.r, "link", "set", here, "master", "br0", "up");
    await ip("-n", names[side], "addr", "add", `${address[side]}/24`, "dev", there);
    await ip("-n", names[side], "link", "set", there, "up");
  }
  return {
    names,
    address,
    async [Symbol.asyncDispose]() {
      for (const ns of Object.values(names)) await ip("netns", "del", ns).catch(() => {});
    },
  };
}

/** `crosstalk <args>` inside a namespace. */
async function crosstalkIn(ns: string, home: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", {
    args: ["netns", "exec", ns, Deno.execPath(), "run", "-A", "--quiet", MAIN, ...args],
    clearEnv: true,
    env: cliEnv({ home }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

const allowed = await canMakeNamespaces();

Deno.test({
  name:
    "machines in network namespaces, a remote served by git daemon: a pinned reply crosses on nudges, a bare message runs once",
  ignore: !allowed,
  async fn() {
    await using dir = await tempDir();
    await using net = await namespaces();
    const served = join(dir.path, "served");
    await Deno.mkdir(served);
    const init = await new Deno.Command("git", {
      args: ["init", "-q", "--bare", "-b", "main", join(served, "bus.git")],
    }).output();
    assert.equal(init.code, 0);
    const daemon = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        net.names.r,
        "git",
        "daemon",
        "--reuseaddr",
        "--export-all",
        "--enable=receive-pack",
        `--base-path=${served}`,
        `--listen=${net.address.r}`,
        "--port=9418",
        served,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const url = `git://${net.address.r}/bus.git`;
      const roots = { a: join(dir.path, "a"), b: join(dir.path, "b") };
      // git daemon listens on 9418 (hex 24CA) in the remote's namespace once it is up.
      await waitUntil(
        async () => {
          const out = await new Deno.Command("ip", {
            args: ["netns", "exec", net.names.r, "cat", "/proc/net/tcp"],
            stdout: "piped",
          }).output();
          return new TextDecoder().decode(out.stdout).split("\n").some((line) =>
            /:24CA 00000000:0000 0A /.test(line)
          );
        },
        10_000,
        "git daemon to listen",
      );
      const joinRemote = (side: "a" | "b") =>
        crosstalkIn(net.names[side], dir.path, [
          "transport",
          "init",
          "--transport",
          "git",
          "--remote",
          url,
          "--path",
          roots[side],
        ]);
      await joinRemote("a");
      const yaml = join(roots.a, "data", "crosstalk.yaml");
      await Deno.writeTextFile(
        yaml,
        `transport: git\ngit:\n  fetch_min_ms: 60000\n  fetch_max_ms: 60000\n` +
          `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
      );
      // Polling once a minute: within the test, only nudges make an engine fetch.
      const gitIn = (ns: string, cwd: string, ...args: string[]) =>
        new Deno.Command("ip", {
          args: ["netns", "exec", ns, "git", ...args],
          cwd,
          env: {
            GIT_AUTHOR_NAME: "t",
            GIT_AUTHOR_EMAIL: "t@example.org",
            GIT_COMMITTER_NAME: "t",
            GIT_COMMITTER_EMAIL: "t@example.org",
          },
          stdout: "null",
          stderr: "piped",
        }).output();
      assert.equal((await gitIn(net.names.a, roots.a, "add", "-A")).code, 0);
      assert.equal((await gitIn(net.names.a, roots.a, "commit", "-q", "-m", "config")).code, 0);
      assert.equal((await gitIn(net.names.a, roots.a, "push", "-q", "origin", "main")).code, 0);
      await joinRemote("b");

      const start = (side: "a" | "b") =>
        EngineProcess.start(roots[side], {
          alias: side,
          state: join(dir.path, `state-${side}`),
          netns: net.names[side],
          env: { CROSSTALK_API_BIND: net.address[side] },
        });
      await using a = await start("a");
      await using b = await start("b");
      for (const [engine, side] of [[a, "a"], [b, "b"]] as const) {
        const listening = await engine.waitFor((r) => r.event === "api.listening");
        assert.match(String(listening.url), new RegExp(net.address[side].replaceAll(".", "\\.")));
      }

      // b's first nudge makes a fetch (at once when a did not know b's key yet: `fetched`), and
      // a learns of b, its entry and its presence, from that fetch.
      await waitUntil(
        () => {
          const nudged = a.records.findIndex((r) => r.event === "nudge.received" && r.from === "b");
          if (nudged < 0) return false;
          return a.records[nudged]!.fetched === true ||
            a.records.slice(nudged).some((r) => r.event === "sync.cycle" && r.fetch === true);
        },
        20_000,
        "a to fetch on b's nudge",
      );

      await using bus = await openBus(roots.a);
      const pinned = await bus.send({ to: ["reply@b"], body: "across namespaces" });
      const [reply] = await bus.waitForReplies([pinned], 30_000);
      assert.ok(
        reply,
        `no reply from b:\n${a.stderrText.slice(-2000)}\n${b.stderrText.slice(-2000)}`,
      );
      assert.equal(reply.from, "test/reply@b");

      const bare = await Promise.all(
        Array.from({ length: 6 }, (_, i) => bus.send({ to: ["reply"], body: `anyone ${i}` })),
      );
      const replies = await bus.waitForReplies(bare, 30_000);
      const answered = replies.flatMap((r) => r.re ?? []).filter((id) =>
        bare.some((m) => m.id === id)
      );
      assert.equal(answered.length, bare.length, "each bare message answered once");
      assert.equal(new Set(answered).size, bare.length, "and only once");
    } finally {
      daemon.kill("SIGTERM");
      await daemon.status;
    }
  },
});
