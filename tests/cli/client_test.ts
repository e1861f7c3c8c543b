// The CLI as a client of a running engine: no login needed locally, profiles, tokens, users,
// and identity applying to sends that go through the API.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCrosstalk, tempDir } from "../_helpers.ts";
import { AGENTS, EngineProcess, makeTransport, namedTransport } from "../engine/_harness.ts";
import { credentialsPath } from "../../cli/_client.ts";

Deno.test("the CLI talks to a running engine: local credential, login profiles, tokens and users", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  // A named transport in the default storage, so that the CLI finds its engine without --path.
  const { root, state } = namedTransport(home);
  await makeTransport(
    root,
    `providers:\n  test:\n    models:\n      reply: ${join(AGENTS, "reply.sh")}\n`,
  );
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  const server = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  const cli = (args: string[], stdin?: string) =>
    runCrosstalk(args, { home, ...(stdin === undefined ? {} : { stdin }) });
  const ok = async (args: string[], stdin?: string) => {
    const r = await cli(args, stdin);
    assert.equal(r.code, 0, `${args.join(" ")}\n${r.stderr}`);
    return r;
  };

  // No login: the engine's local credential speaks as the first admin, through the API.
  const sent = await ok([
    "message",
    "send",
    "--containername",
    "team",
    "--to",
    "reply",
    "--wait",
    "--timeout",
    "15",
    "hi",
  ]);
  assert.match(sent.stdout, /reply from test\/reply/);
  const id = sent.stdout.split("\n")[0]!;
  const shown = JSON.parse(
    (await ok(["message", "show", id, "--containername", "team", "--json"])).stdout,
  );
  assert.equal(shown.from, "boss", "the API's identity, not $USER");
  // An id that would leave its channel is refused by the CLI itself, before it names a URL.
  for (const bad of ["../../../etc/passwd", `${id.split("/")[0]}/../../x/y/z.md`]) {
    const refused = await cli(["message", "show", bad, "--containername", "team"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Invalid message id/, refused.stderr);
    assert.doesNotMatch(refused.stderr, /NOT_FOUND/);
  }

  // Users and tokens exist only in the API.
  await ok(["user", "create", "ann", "--containername", "team"], "ann's passphrase\n");
  const users = JSON.parse(
    (await ok(["user", "list", "--containername", "team", "--json"])).stdout,
  );
  assert.deepEqual(users.map((u: { username: string }) => u.username), ["boss", "ann"]);

  // ann logs in as a profile, which becomes the active one.
  await ok(
    ["--server", server, "--profile", "ann", "auth", "login", "--username", "ann"],
    "ann's passphrase\n",
  );
  const profiles = JSON.parse((await ok(["auth", "list", "--json"])).stdout);
  assert.deepEqual(profiles.map((p: { name: string; active: boolean }) => [p.name, p.active]), [[
    "ann",
    true,
  ]]);
  const credentialFile = join(home, ".config", "crosstalk", "credentials.json");
  assert.equal((await Deno.stat(credentialFile)).mode! & 0o777, 0o600);
  const asAnn = JSON.parse(
    (await ok(["message", "send", "--to", "reply", "--json", "from ann"])).stdout,
  );
  assert.equal(asAnn.from, "ann");
  const spoof = await cli(["message", "send", "--to", "reply", "--from", "boss", "not me"]);
  assert.equal(spoof.code, 77);
  assert.match(spoof.stderr, /sends as "ann", not as "boss"/);
  const forbidden = await cli(["user", "list"]);
  assert.equal(forbidden.code, 77);

  // An admin makes ann an admin: it holds for her token at once; nobody takes their own.
  assert.match(
    (await ok(["user", "admin", "ann", "on", "--containername", "team"])).stdout,
    /"ann" is an admin/,
  );
  assert.equal((await cli(["user", "list"])).code, 0, "ann's same token, now an admin's");
  const own = await cli(["user", "admin", "ann", "off"]);
  assert.equal(own.code, 77);
  assert.match(own.stderr, /cannot take their own admin rights/);
  await ok(["user", "admin", "ann", "off", "--containername", "team"]);
  assert.equal((await cli(["user", "list"])).code, 77, "taken back at once");
  const typo = await cli(["user", "admin", "ann", "yes", "--containername", "team"]);
  assert.equal(typo.code, 64);

  const minted = await ok(["token", "create", "ci", "--json"]);
  const token = JSON.parse(minted.stdout);
  const listed = JSON.parse((await ok(["token", "list", "--json"])).stdout);
  assert.ok(listed.some((t: { id: string }) => t.id === token.id));
  await ok(["token", "revoke", token.id]);
  const revoked = await fetch(`${server}/api/channels`, {
    headers: { Authorization: `Bearer ${token.token}` },
  });
  assert.equal(revoked.status, 401);
  await revoked.body?.cancel();

  await ok(["auth", "logout"]);
  assert.deepEqual(JSON.parse((await ok(["auth", "list", "--json"])).stdout), []);
  const bad = await cli(
    ["--server", server, "auth", "login", "--username", "ann"],
    "wrong passphrase\n",
  );
  assert.equal(bad.code, 77);
  assert.match(bad.stderr, /Wrong username or passphrase/);
});

Deno.test("a credentials file another program wrote is never overwritten: auth login refuses before asking, the CLI works without it", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const { root, state } = namedTransport(home);
  await makeTransport(root, "providers: {}\n");
  await using engine = await EngineProcess.start(root, {
    alias: "a",
    state,
    env: { CROSSTALK_INIT_USERNAME: "boss", CROSSTALK_INIT_PASSPHRASE: "the boss passphrase" },
  });
  const server = (await engine.waitFor((r) => r.event === "api.listening")).url as string;
  const file = join(home, ".config", "crosstalk", "credentials.json");
  await Deno.mkdir(join(file, ".."), { recursive: true });
  // Logins in a shape this crosstalk does not write (another tool's of the same name).
  const theirs = '{"servers": {"prod": {"url": "https://x", "apiKey": "k"}}, "current": "prod"}\n';
  await Deno.writeTextFile(file, theirs);

  const login = await runCrosstalk(
    ["--server", server, "auth", "login", "--username", "boss"],
    { home, stdin: "the boss passphrase\n" },
  );
  assert.equal(login.code, 78, login.stderr);
  assert.match(
    login.stderr,
    /Cannot save logins in ".*credentials\.json": it has keys this crosstalk does not write \("servers", "current"\), so it may be another program's or an older crosstalk's; it was left as it is/,
  );
  assert.doesNotMatch(login.stdout + login.stderr, /Passphrase:/, "refused before asking");
  assert.equal(await Deno.readTextFile(file), theirs);

  const listed = await runCrosstalk(["auth", "list"], { home });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stderr, /^warning: ".*credentials\.json" is not used: it has keys/);
  assert.match(listed.stdout, /No saved logins/);
  // Everything else goes on with the engine's local credential.
  const sent = await runCrosstalk([
    "message",
    "send",
    "--to",
    "boss",
    "--containername",
    "team",
    "hi",
  ], {
    home,
  });
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(await Deno.readTextFile(file), theirs);
});

Deno.test("an older crosstalk's cli-token file is named, as not read, by auth list and when no engine answers", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const file = join(home, ".config", "crosstalk", "cli-token");
  await Deno.mkdir(join(file, ".."), { recursive: true });
  await Deno.writeTextFile(file, "ct_0123456789abcdef\n");
  const listed = await runCrosstalk(["auth", "list"], { home });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(
    listed.stderr,
    /^warning: ".*\/\.config\/crosstalk\/cli-token" is an older crosstalk's token file, which this one does not read: log in with "crosstalk auth login"\n$/,
  );
  const tokens = await runCrosstalk(["token", "list"], { home });
  assert.equal(tokens.code, 77);
  assert.match(
    tokens.stderr,
    /No engine to talk to: .*\(the token file of an older crosstalk, ".*cli-token", is not read\)/,
  );
  assert.doesNotMatch(
    tokens.stderr + listed.stderr,
    /ct_0123456789abcdef/,
    "the token never shows",
  );
  assert.equal(await Deno.readTextFile(file), "ct_0123456789abcdef\n", "left as it is");
});

Deno.test("credentialsPath takes an empty XDG_CONFIG_HOME or HOME as unset, never the working folder", () => {
  assert.equal(
    credentialsPath({ XDG_CONFIG_HOME: "", HOME: "/home/me" }),
    "/home/me/.config/crosstalk/credentials.json",
  );
  assert.equal(
    credentialsPath({ HOME: "", USERPROFILE: "/users/me" }),
    "/users/me/.config/crosstalk/credentials.json",
  );
  assert.equal(
    credentialsPath({ XDG_CONFIG_HOME: "/cfg", HOME: "/home/me" }),
    "/cfg/crosstalk/credentials.json",
  );
});
