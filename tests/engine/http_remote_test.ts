// A remote over git's smart HTTP protocol (git http-backend behind a small server on loopback,
// with Basic auth), as an https:// remote would be: the engines sync through it, and a missing
// credential is an error in the log and the status, never a prompt.
import assert from "node:assert/strict";
import { join } from "node:path";
import { scaffoldTransport } from "../../transports/mod.ts";
import { git, tempDir, waitUntil } from "../_helpers.ts";
import { AGENTS, EngineProcess, openBus } from "./_harness.ts";

/** Serves the repositories under `root` with git http-backend, for `user:secret` only. */
async function smartHttp(root: string): Promise<Deno.HttpServer<Deno.NetAddr>> {
  const execPath = (await git(root, "--exec-path")).trim();
  const expected = `Basic ${btoa("user:secret")}`;
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    if (request.headers.get("authorization") !== expected) {
      return new Response("who are you?", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="crosstalk test"' },
      });
    }
    const url = new URL(request.url);
    const child = new Deno.Command(join(execPath, "git-http-backend"), {
      env: {
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        REMOTE_USER: "user",
        REQUEST_METHOD: request.method,
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: request.headers.get("content-type") ?? "",
        HTTP_CONTENT_ENCODING: request.headers.get("content-encoding") ?? "",
        HTTP_GIT_PROTOCOL: request.headers.get("git-protocol") ?? "",
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : new Uint8Array();
    const writer = child.stdin.getWriter();
    await writer.write(body);
    await writer.close();
    const { stdout } = await child.output();
    // A CGI answer: headers, an empty line, the body.
    let split = 0;
    while (split + 3 < stdout.length) {
      if (stdout[split] === 13 && stdout[split + 1] === 10 && stdout[split + 2] === 13) break;
      split++;
    }
    const head = new TextDecoder().decode(stdout.subarray(0, split));
    const headers = new Headers();
    let status = 200;
    for (const line of head.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
      else headers.append(name, value);
    }
    return new Response(stdout.subarray(split + 4), { status, headers });
  });
}

Deno.test("two machines sync through a smart HTTP remote; a missing credential is an error in the log and the status, not a prompt", async () => {
  await using dir = await tempDir();
  await git(dir.path, "init", "-q", "--bare", "-b", "main", join(dir.path, "remote.git"));
  await using server = await smartHttp(dir.path);
  const base = `http://127.0.0.1:${server.addr.port}/remote.git`;
  const withCredential = base.replace("http://", "http://user:secret@");
  const roots = { a: join(dir.path, "a"), b: join(dir.path, "b") };
  await scaffoldTransport(roots.a, { kind: "git", remote: withCredential });
  await Deno.writeTextFile(
    join(roots.a, "data", "crosstalk.yaml"),
    `transport: git\ngit:\n  fetch_min_ms: 100\n  fetch_max_ms: 400\nproviders:\n  test:\n    models:\n      reply: ${
      join(AGENTS, "reply.sh")
    }\n`,
  );
  await git(roots.a, "add", "-A");
  await git(roots.a, "commit", "-q", "-m", "test config");
  await git(roots.a, "push", "-q", "origin", "main");
  await scaffoldTransport(roots.b, { kind: "git", remote: withCredential });
  const start = (alias: "a" | "b") =>
    EngineProcess.start(roots[alias], { alias, state: join(dir.path, `state-${alias}`) });
  await using a = await start("a");
  await using b = await start("b");
  await using bus = await openBus(roots.a);
  const sent = await bus.send({ to: ["reply@b"], body: "over http" });
  const [reply] = await bus.waitForReplies([sent], 20_000);
  assert.equal(reply!.from, "test/reply@b");
  const ready = a.records.find((r) => r.event === "engine.ready");
  assert.equal(
    ready?.remote,
    base.replace("http://", "http://user:***@"),
    "the password is masked",
  );

  // The credential goes away: git must fail at once, naming the problem, and never ask.
  await git(roots.a, "remote", "set-url", "origin", base);
  await bus.send({ to: ["reply@b"], body: "with no credential" });
  const failed = await a.waitFor((r) => r.event === "sync.failed", 20_000);
  assert.match(String(failed.reason), /Authentication failed|could not read Username|401/);
  assert.doesNotMatch(String(failed.reason), /secret/, "no secret in the log");
  // The status file follows within a moment (it is written a little after each change).
  const statusPath = join(dir.path, "state-a", "status.json");
  const status = await waitUntil(async () => {
    const parsed = JSON.parse(await Deno.readTextFile(statusPath));
    return parsed.sync?.error ? parsed : undefined;
  });
  assert.match(String(status.sync?.error ?? ""), /Cannot reach the remote/);
  assert.doesNotMatch(JSON.stringify(status), /secret/, "no secret in the status");
  await git(roots.a, "remote", "set-url", "origin", withCredential);
  await a.waitFor((r) => r.event === "sync.recovered", 20_000);
  await b.stop();
});
