// A remote over ssh:// (a private OpenSSH server on loopback, key authentication only): two
// machines join with `transport init --remote ssh://…` and sync through it; a key the server
// does not accept is an error in the log, never a prompt.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir, waitUntil } from "../_helpers.ts";
import { AGENTS, EngineProcess, openBus } from "./_harness.ts";

const SSHD = "/usr/sbin/sshd";

async function run(cmd: string, args: string[], env: Record<string, string> = {}, cwd?: string) {
  const out = await new Deno.Command(cmd, { args, env, ...(cwd ? { cwd } : {}) }).output();
  assert.equal(out.code, 0, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/** A private sshd on 127.0.0.1 that lets in the holder of `clientKey` (and nobody else). */
async function sshServer(dir: string) {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "stranger_key")]);
  await Deno.copyFile(join(dir, "client_key.pub"), join(dir, "authorized_keys"));
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await Deno.writeTextFile(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "LogLevel ERROR",
      // The login shell reads the rc files of the home it is given: an empty one of its own, so
      // that a user's slow or stuck ~/.bashrc (a pyenv rehash waiting on its lock) cannot hang git.
      `SetEnv HOME=${join(dir, "home")}`,
      "",
    ].join("\n"),
  );
  await Deno.mkdir(join(dir, "home"));
  // Privilege separation wants its empty folder when sshd runs as root.
  await Deno.mkdir("/run/sshd", { recursive: true }).catch(() => {});
  const child = new Deno.Command(SSHD, {
    args: ["-D", "-e", "-f", join(dir, "sshd_config")],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitUntil(
    async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return true;
      } catch {
        return false;
      }
    },
    10_000,
    "sshd to listen",
  );
  const user = await run("id", ["-un"]);
  const sshCommand = (key: string) =>
    `ssh -i ${join(dir, key)} -o BatchMode=yes -o StrictHostKeyChecking=no ` +
    "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";
  return {
    url: (path: string) => `ssh://${user}@127.0.0.1:${port}${path}`,
    env: { GIT_SSH_COMMAND: sshCommand("client_key") },
    strangerEnv: { GIT_SSH_COMMAND: sshCommand("stranger_key") },
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

Deno.test("two machines sync through an ssh:// remote; a key the server refuses is an error in the log, not a prompt", async () => {
  await using dir = await tempDir();
  await using ssh = await sshServer(dir.path);
  const remote = join(dir.path, "remote.git");
  await run("git", ["init", "-q", "--bare", "-b", "main", remote]);
  const url = ssh.url(remote);
  const roots = { a: join(dir.path, "a"), b: join(dir.path, "b") };
  const init = async (root: string) => {
    const r = await runCrosstalk(
      ["transport", "init", "--transport", "git", "--remote", url, "--path", root],
      { home: dir.path, env: ssh.env },
    );
    assert.equal(r.code, 0, r.stderr);
  };
  await init(roots.a);
  await Deno.writeTextFile(
    join(roots.a, "data", "crosstalk.yaml"),
    `transport: git\ngit:\n  fetch_min_ms: 100\n  fetch_max_ms: 400\nproviders:\n  test:\n    models:\n      reply: ${
      join(AGENTS, "reply.sh")
    }\n`,
  );
  const gitEnv = { ...ssh.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.org" };
  const committer = { GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.org" };
  await run("git", ["add", "-A"], gitEnv, roots.a);
  await run("git", ["commit", "-q", "-m", "test config"], { ...gitEnv, ...committer }, roots.a);
  await run("git", ["push", "-q", "origin", "main"], gitEnv, roots.a);
  await init(roots.b);

  const start = (alias: "a" | "b", env: Record<string, string>) =>
    EngineProcess.start(roots[alias], { alias, state: join(dir.path, `state-${alias}`), env });
  await using a = await start("a", ssh.env);
  await using b = await start("b", ssh.env);
  await using bus = await openBus(roots.a);
  const sent = await bus.send({ to: ["reply@b"], body: "over ssh" });
  const [reply] = await bus.waitForReplies([sent], 60_000);
  assert.equal(reply!.from, "test/reply@b");
  assert.match(reply!.body, /over ssh/);
  await b.stop();
  await a.stop();

  // Machine a again, with a key the server does not know: git fails at once, never asks.
  await using again = await start("a", ssh.strangerEnv);
  const failed = await again.waitFor((r) => r.event === "sync.failed", 20_000);
  assert.match(String(failed.reason), /Permission denied|publickey/);
});
