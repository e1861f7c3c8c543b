// `crosstalk channel …`, `crosstalk message …`, help and version, run as the real CLI.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers.ts";
import {
  channelId,
  collect,
  expectCode,
  git,
  initTransport,
  listFiles,
  MESSAGE_ID_RE,
  readMessageFile,
  runCrosstalk,
  snapshot,
  spawnCrosstalk,
} from "./_cli.ts";

interface ChannelJson {
  id: string;
  name: string;
  parent?: string;
  created?: string;
}

interface MessageJson {
  channel: string;
  id: string;
  from: string;
  to: string[];
  timestamp: string;
  re?: string[];
  as?: string;
  body: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Writes a channel folder by hand, to choose its uuid. */
async function writeChannel(root: string, id: string, name: string): Promise<void> {
  await Deno.mkdir(join(root, "data/channels", id));
  await Deno.writeTextFile(
    join(root, "data/channels", id, "CHANNEL.md"),
    `---\nname: ${name}\n---\n`,
  );
}

Deno.test("channel create, list, show, rename and delete work by name, uuid and uuid prefix", async (t) => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const p = ["--path", root];
  let alpha = "";

  await t.step("create prints the new uuid; list and show find it", async () => {
    const created = await expectCode(0, ["channel", "create", "alpha team", ...p], { home });
    alpha = created.stdout.trim();
    assert.match(alpha, UUID_RE);
    const file = await Deno.readTextFile(join(root, "data/channels", alpha, "CHANNEL.md"));
    assert.match(file, /^name: alpha team$/m);

    const list = await expectCode(0, ["channel", "list", ...p], { home });
    assert.match(list.stdout, /^ID\s+NAME\s+PARENT$/m);
    assert.match(list.stdout, new RegExp(`^${alpha}\\s+alpha team$`, "m"));
    const json = await expectCode(0, ["channel", "list", ...p, "--json"], { home });
    assert.deepEqual(
      (JSON.parse(json.stdout) as ChannelJson[]).map((c) => c.name),
      ["alpha team", "general"],
    );

    for (
      const handle of ["alpha team", alpha, alpha.slice(0, 8), alpha.slice(0, 4).toUpperCase()]
    ) {
      const shown = await expectCode(0, ["channel", "show", handle, ...p, "--json"], { home });
      const channel = JSON.parse(shown.stdout);
      assert.equal(channel.id, alpha, `found by ${handle}`);
      assert.equal(channel.name, "alpha team");
      assert.equal(channel.messages, 0);
    }
    const text = await expectCode(0, ["channel", "show", "alpha team", ...p], { home });
    assert.match(text.stdout, new RegExp(`^id:\\s+${alpha}$`, "m"));
    assert.match(text.stdout, /^messages: 0$/m);
  });

  await t.step("names must be unique, and a missing channel is reported", async () => {
    const before = await snapshot(root);
    const dup = await expectCode(73, ["channel", "create", "alpha team", ...p], { home });
    assert.match(dup.stderr, /already exists/);
    const missing = await expectCode(66, ["channel", "show", "nope", ...p], { home });
    assert.match(missing.stderr, /No channel named "nope"/);
    const noParent = await expectCode(
      66,
      ["channel", "create", "orphan", "--parent", "nope", ...p],
      {
        home,
      },
    );
    assert.match(noParent.stderr, /nope/);
    assert.deepEqual(await snapshot(root), before);
  });

  await t.step("names with /, .. or \\ are refused and nothing is created", async () => {
    const before = await snapshot(root);
    for (const name of ["a/b", "..", "x..y", "a\\b", "../../escape", "/abs"]) {
      const refused = await expectCode(65, ["channel", "create", name, ...p], { home });
      assert.match(refused.stderr, /Invalid channel name/, name);
      const renamed = await expectCode(65, ["channel", "rename", "alpha team", name, ...p], {
        home,
      });
      assert.match(renamed.stderr, /Invalid channel name/, name);
    }
    // A name that looks like a uuid would shadow lookups by id.
    await expectCode(65, ["channel", "create", "01234567-89ab-4def-8123-456789abcdef", ...p], {
      home,
    });
    assert.deepEqual(await snapshot(root), before);
  });

  await t.step("rename by prefix keeps the uuid; the old name is gone", async () => {
    const renamed = await expectCode(0, ["channel", "rename", alpha.slice(0, 6), "beta", ...p], {
      home,
    });
    assert.match(renamed.stdout, new RegExp(`Renamed ${alpha} to "beta"`));
    const shown = await expectCode(0, ["channel", "show", "beta", ...p, "--json"], { home });
    assert.equal(JSON.parse(shown.stdout).id, alpha);
    await expectCode(66, ["channel", "show", "alpha team", ...p], { home });
    const taken = await expectCode(73, ["channel", "rename", "beta", "general", ...p], { home });
    assert.match(taken.stderr, /"general" already exists/);
  });

  await t.step("a prefix shared by two channels is ambiguous and names both", async () => {
    const one = "abcd1111-0000-4000-8000-000000000001";
    const two = "abcd2222-0000-4000-8000-000000000002";
    await writeChannel(root, one, "one");
    await writeChannel(root, two, "two");
    const before = await snapshot(root);
    for (const command of [["show", "abcd"], ["delete", "abcd"], ["rename", "abcd", "x"]]) {
      const result = await expectCode(65, ["channel", ...command, ...p], { home });
      assert.match(result.stderr, /Channel prefix "abcd" matches 2 channels/);
      assert.match(result.stderr, new RegExp(one));
      assert.match(result.stderr, new RegExp(two));
    }
    assert.deepEqual(await snapshot(root), before);
    const unique = await expectCode(0, ["channel", "show", "abcd1", ...p, "--json"], { home });
    assert.equal(JSON.parse(unique.stdout).id, one);
  });

  await t.step("a parent cannot be deleted before its children", async () => {
    const child = (await expectCode(0, ["channel", "create", "kid", "--parent", "beta", ...p], {
      home,
    })).stdout.trim();
    const list = await expectCode(0, ["channel", "list", ...p], { home });
    assert.match(list.stdout, new RegExp(`^${child}\\s+kid\\s+beta$`, "m"));
    const before = await snapshot(root);
    const refused = await expectCode(65, ["channel", "delete", "beta", ...p], { home });
    assert.match(refused.stderr, /Cannot delete channel "beta": it is the parent of "kid"/);
    assert.deepEqual(await snapshot(root), before);

    const gone = await expectCode(0, ["channel", "delete", child, ...p], { home });
    assert.match(gone.stdout, /Deleted channel "kid"/);
    await expectCode(0, ["channel", "delete", "beta", ...p, "--json"], { home });
    const names = JSON.parse(
      (await expectCode(0, ["channel", "list", ...p, "--json"], { home })).stdout,
    )
      .map((c: ChannelJson) => c.name);
    assert.deepEqual(names, ["general", "one", "two"]);
    assert.ok(!(await listFiles(root)).some((f) => f.includes(alpha) || f.includes(child)));
  });
});

Deno.test("message send writes the message file with the right frontmatter and prints its id", async (t) => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const general = await channelId(root, "general");
  const p = ["--path", root];
  const fileOf = (id: string) => join(root, "data/channels", general, id);
  let first = "";

  await t.step("body from arguments; from defaults to $USER", async () => {
    const sent = await expectCode(0, ["message", "send", "--to", "echo", "hello", "world", ...p], {
      home,
    });
    first = sent.stdout.trim();
    assert.match(first, MESSAGE_ID_RE);
    const { head, body } = await readMessageFile(fileOf(first));
    assert.equal(head.from, "tester");
    assert.equal(head.to, "echo");
    assert.equal(typeof head.timestamp, "string");
    assert.ok(Math.abs(Date.parse(head.timestamp as string) - Date.now()) < 60_000);
    assert.equal(head.re, undefined);
    assert.equal(body, "hello world\n");
  });

  await t.step("--wait with no engine running says so, then gives up after --timeout", async () => {
    const sent = await expectCode(
      75,
      ["message", "send", "--to", "echo", "--wait", "--timeout", "1", "anyone?", ...p],
      { home },
    );
    assert.match(
      sent.stderr,
      /^warning: no engine of this transport runs on this machine, so a reply can come only from one on another machine \(start one here with "crosstalk server start"\)\nNo reply within 1s/,
    );
  });

  await t.step("--from, comma-separated and repeated --to, --as, --re", async () => {
    const sent = await expectCode(0, [
      "message",
      "send",
      "--from",
      "alice",
      "--to",
      "echo,bob",
      "--to",
      "carol",
      "--as",
      "orchestrator",
      "--re",
      first,
      "a reply",
      ...p,
    ], { home });
    const { head } = await readMessageFile(fileOf(sent.stdout.trim()));
    assert.equal(head.from, "alice");
    assert.deepEqual(head.to, ["echo", "bob", "carol"]);
    assert.equal(head.as, "orchestrator");
    assert.equal(head.re, first);
  });

  await t.step("body from --file and from standard input", async () => {
    const bodyFile = join(home, "body.md");
    await Deno.writeTextFile(bodyFile, "# Title\n\nline two\n");
    const fromFile = await expectCode(0, [
      "message",
      "send",
      "--to",
      "echo",
      "--file",
      bodyFile,
      ...p,
    ], {
      home,
    });
    assert.equal(
      (await readMessageFile(fileOf(fromFile.stdout.trim()))).body,
      "# Title\n\nline two\n",
    );
    const fromStdin = await expectCode(0, ["message", "send", "--to", "echo", ...p], {
      home,
      stdin: "from stdin\nsecond line\n",
    });
    assert.equal(
      (await readMessageFile(fileOf(fromStdin.stdout.trim()))).body,
      "from stdin\nsecond line\n",
    );
    const json = await expectCode(
      0,
      ["message", "send", "--to", "echo", "as json", "--json", ...p],
      {
        home,
      },
    );
    const message = JSON.parse(json.stdout) as MessageJson;
    assert.equal(message.channel, general);
    assert.match(message.id, MESSAGE_ID_RE);
    assert.equal(message.body, "as json");
  });

  await t.step("bad sends are refused and write nothing", async () => {
    const before = await snapshot(home);
    const refusals: [string[], number, RegExp, string?][] = [
      [["--to", "echo", "--as", "ghost", "hi"], 65, /local\/actors\/ghost.md/],
      [["--to", "echo", "--as", "../../etc/passwd", "hi"], 65, /Invalid address/],
      [["--to", "echo", "--re", "2020/01/01/000000000Z-00000000.md", "hi"], 66, /Cannot reply/],
      [["--to", "echo", "--re", "../../../CROSSTALK-VERSION", "hi"], 65, /Invalid message id/],
      [["--to", "echo", "--from", "not a name", "hi"], 65, /Invalid address/],
      [["--to", "echo"], 65, /empty message/, "  \n\n"],
      [["--to", "echo"], 65, /empty message/],
      [["--to", "echo", "--file", join(home, "missing.md")], 64, /does not exist/],
      [["--to", "echo", "--file", join(home, "body.md"), "words"], 64, /not both/],
      [["--to", ",", "hi"], 64, /No addressee: name them with "to" \(--to\) or an @mention/],
      [["hi"], 64, /No addressee: name them with "to" \(--to\) or an @mention/],
      [["@nobody/echo", "hi"], 64, /"@nobody\/echo" is no model of this transport$/m],
      [["--to", "echo", "--channel", "nope", "hi"], 66, /No channel named "nope"/],
      [
        ["--to", "builtin/unknown", "hi"],
        65,
        /Unknown model "builtin\/unknown" \(known: builtin\/echo\)/,
      ],
      [["--to", "nobody/echo", "hi"], 65, /known: builtin\/echo/],
    ];
    for (const [args, code, pattern, stdin] of refusals) {
      const result = await runCrosstalk(["message", "send", ...args, ...p], {
        home,
        ...(stdin === undefined ? {} : { stdin }),
      });
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, pattern, args.join(" "));
      assert.equal(result.stdout, "");
    }
    assert.deepEqual(await snapshot(home), before);
  });
});

Deno.test("message send enforces limits.message_bytes and refuses ambiguous model names", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const p = ["--path", root];
  await Deno.writeTextFile(
    join(root, "data/crosstalk.yaml"),
    [
      "transport: local",
      "limits:",
      "  message_bytes: 16",
      "providers:",
      "  builtin:",
      "    models:",
      "      echo: crosstalk agent echo",
      "  first:",
      "    models:",
      "      twin: cat",
      "  second:",
      "    models:",
      "      twin: cat",
      "",
    ].join("\n"),
  );
  await expectCode(0, ["message", "send", "--to", "echo", "x".repeat(16), ...p], { home });
  const before = await snapshot(home);
  const big = join(home, "big.md");
  await Deno.writeTextFile(big, "y".repeat(17));
  const withFile = await snapshot(home);
  for (
    const [args, stdin] of [
      [["x".repeat(17)], undefined],
      [["é".repeat(9)], undefined], // 9 characters, 18 bytes
      [[], "z".repeat(100)],
      [["--file", big], undefined],
    ] as [string[], string | undefined][]
  ) {
    const result = await runCrosstalk(["message", "send", "--to", "echo", ...args, ...p], {
      home,
      ...(stdin === undefined ? {} : { stdin }),
    });
    assert.equal(result.code, 65, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, /limit/);
  }
  assert.deepEqual(await snapshot(home), withFile);
  await Deno.remove(big);
  assert.deepEqual(await snapshot(home), before);

  const ambiguous = await expectCode(65, ["message", "send", "--to", "twin", "hi", ...p], { home });
  assert.match(ambiguous.stderr, /Model "twin" is ambiguous: first\/twin, second\/twin/);
  const unknown = await expectCode(65, ["message", "send", "--to", "first/nope", "hi", ...p], {
    home,
  });
  assert.match(unknown.stderr, /known: builtin\/echo, first\/twin, second\/twin/);
  assert.deepEqual(await snapshot(home), before);
  const named = await expectCode(0, ["message", "send", "--to", "second/twin", "hi", ...p], {
    home,
  });
  assert.match(named.stdout.trim(), MESSAGE_ID_RE);
});

Deno.test("message list, show and replies find messages in order and by every form of id", async (t) => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const general = await channelId(root, "general");
  const p = ["--path", root];
  const ids: string[] = [];
  for (const body of ["first", "second", "third"]) {
    ids.push(
      (await expectCode(0, ["message", "send", "--to", "echo", body, ...p], { home })).stdout
        .trim(),
    );
  }
  const [a, b, c] = ids as [string, string, string];

  await t.step("list in order, with --since, --limit and --json", async () => {
    const text = await expectCode(0, ["message", "list", ...p], { home });
    const lines = text.stdout.trim().split("\n");
    assert.deepEqual(lines.map((l) => l.split(" ")[0]), ids);
    assert.match(lines[0]!, /tester -> echo\s+first$/);
    const list = async (...args: string[]) =>
      (JSON.parse(
        (await expectCode(0, ["message", "list", ...p, "--json", ...args], { home })).stdout,
      ) as MessageJson[])
        .map((m) => m.id);
    assert.deepEqual(await list(), ids);
    assert.deepEqual(await list("--since", a), [b, c]);
    assert.deepEqual(await list("--since", c), []);
    assert.deepEqual(await list("--limit", "2"), [a, b]);
    assert.deepEqual(await list("--since", a, "--limit", "1"), [b]);
    assert.deepEqual(await list("--channel", general), ids);
    const empty = await expectCode(0, ["message", "list", ...p, "--since", c], { home });
    assert.match(empty.stderr, /No messages in "general"/);
    await expectCode(64, ["message", "list", ...p, "--limit", "0"], { home });
    await expectCode(65, ["message", "list", ...p, "--since", "../x"], { home });
  });

  await t.step("show by id, <uuid>/<id> and data/channels/<uuid>/<id>", async () => {
    for (const ref of [b, `${general}/${b}`, `data/channels/${general}/${b}`]) {
      const shown = await expectCode(0, ["message", "show", ref, ...p, "--json"], { home });
      const message = JSON.parse(shown.stdout) as MessageJson;
      assert.equal(message.id, b, ref);
      assert.equal(message.channel, general);
      assert.equal(message.body, "second");
    }
    const text = await expectCode(0, ["message", "show", b, ...p], { home });
    assert.match(text.stdout, new RegExp(`^id:\\s+${b}$`, "m"));
    assert.match(text.stdout, /^from:\s+tester$/m);
    assert.match(text.stdout, /\n\nsecond\n$/);
    await expectCode(66, ["message", "show", "2020/01/01/000000000Z-00000000.md", ...p], { home });
  });

  await t.step("show by <name>/<id> and <uuid prefix>/<id>, as task list prints them", async () => {
    for (const ref of [`general/${b}`, `${general.slice(0, 8)}/${b}`]) {
      const shown = await expectCode(0, ["message", "show", ref, ...p, "--json"], { home });
      assert.equal((JSON.parse(shown.stdout) as MessageJson).id, b, ref);
    }
    const unknown = await runCrosstalk(["message", "show", `nochannel/${b}`, ...p], { home });
    assert.equal(unknown.code, 66, unknown.stderr);
  });

  await t.step(
    "list --full prints each message whole, as show does, also with --last",
    async () => {
      const notes = ["--channel", "notes", "--create"];
      const body = "Plan:\n\n- step one\n- step two\n\nid: not a header";
      const long = (await expectCode(0, ["message", "send", "--to", "echo", ...notes, ...p, body], {
        home,
      })).stdout.trim();
      const short =
        (await expectCode(0, ["message", "send", "--to", "echo", ...notes, ...p, "ok"], {
          home,
        })).stdout.trim();
      const show = async (id: string) =>
        (await expectCode(0, ["message", "show", id, ...p], { home })).stdout;
      const full = await expectCode(0, ["message", "list", "--channel", "notes", "--full", ...p], {
        home,
      });
      assert.equal(full.stdout, `${await show(long)}\n${await show(short)}\n`);
      assert.match(full.stdout, /\n\nPlan:\n\n- step one\n- step two\n\nid: not a header\n\n/);
      const last = await expectCode(
        0,
        ["message", "list", "--channel", "notes", "--full", "--last", "1", ...p],
        { home },
      );
      assert.equal(last.stdout, `${await show(short)}\n`);
      // Without --full: one line each, the first line of the body.
      const lines = await expectCode(0, ["message", "list", "--channel", "notes", ...p], { home });
      assert.match(lines.stdout, new RegExp(`^${long.replace(/[.]/g, "\\.")} .* Plan:$`, "m"));
      assert.equal(lines.stdout.trim().split("\n").length, 2);
    },
  );

  await t.step("ids that leave the channel are refused", async () => {
    const before = await snapshot(home);
    for (
      const ref of [
        "../../../CROSSTALK-VERSION",
        "2026/11/22/../../../../data/crosstalk.yaml",
        `${general}/../${general}/${b}`,
        `data/channels/${general}/../../crosstalk.yaml`,
        `${b}/..`,
        `../${b}`,
        "/etc/passwd",
      ]
    ) {
      const shown = await runCrosstalk(["message", "show", ref, ...p], { home });
      assert.equal(shown.code, 65, `${ref}: ${shown.stderr}`);
      assert.match(shown.stderr, /Invalid message id/);
      const replies = await runCrosstalk(["message", "replies", ref, ...p], { home });
      assert.equal(replies.code, 65, `${ref}: ${replies.stderr}`);
    }
    assert.deepEqual(await snapshot(home), before);
  });

  await t.step("replies lists the replies to a message", async () => {
    const none = await expectCode(0, ["message", "replies", a, ...p, "--json"], { home });
    assert.deepEqual(JSON.parse(none.stdout), []);
    const reply = (await expectCode(0, [
      "message",
      "send",
      "--from",
      "bob",
      "--to",
      "tester",
      "--re",
      a,
      "the answer",
      ...p,
    ], { home })).stdout.trim();
    const json = await expectCode(0, ["message", "replies", a, ...p, "--json"], { home });
    const replies = JSON.parse(json.stdout) as MessageJson[];
    assert.deepEqual(replies.map((r) => [r.id, r.from, r.re, r.body]), [[
      reply,
      "bob",
      [a],
      "the answer",
    ]]);
    const text = await expectCode(0, ["message", "replies", a, ...p], { home });
    assert.match(text.stdout, /^from:\s+bob$/m);
    assert.match(text.stdout, /the answer/);
    // A message that is not a reply to `b` does not show up as one.
    assert.deepEqual(
      JSON.parse((await expectCode(0, ["message", "replies", b, ...p, "--json"], { home })).stdout),
      [],
    );
  });

  await t.step("replies --wait returns as soon as another process replies", async () => {
    const started = Date.now();
    const waiter = spawnCrosstalk(
      ["message", "replies", b, "--wait", "--timeout", "5", ...p],
      home,
    );
    const reply = await runCrosstalk([
      "message",
      "send",
      "--from",
      "carol",
      "--to",
      "tester",
      "--re",
      b,
      "late answer",
      ...p,
    ], { home });
    assert.equal(reply.code, 0, reply.stderr);
    const waited = await collect(waiter);
    assert.equal(waited.code, 0, waited.stderr);
    assert.match(waited.stdout, /^from:\s+carol$/m);
    assert.match(waited.stdout, /late answer/);
    assert.ok(Date.now() - started < 4_500, "it did not wait for the timeout");
  });

  await t.step("replies --wait gives up after --timeout with exit 75", async () => {
    const started = Date.now();
    const waited = await expectCode(
      75,
      ["message", "replies", c, "--wait", "--timeout", "1", ...p],
      {
        home,
      },
    );
    assert.match(waited.stderr, new RegExp(`No reply within 1s to ${c}`));
    assert.equal(waited.stdout, "");
    assert.ok(Date.now() - started >= 1_000);
  });
});

Deno.test("message send on a git transport makes one commit per message naming from, to and id", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "git");
  const p = ["--path", root];
  const count = async () => Number((await git(root, home, "rev-list", "--count", "HEAD")).trim());
  assert.equal(await count(), 1);

  const id =
    (await expectCode(0, ["message", "send", "--to", "echo,alice", "hello", ...p], { home }))
      .stdout.trim();
  assert.equal(await count(), 2);
  const log = await git(root, home, "log", "-1", "--format=%B");
  assert.match(log, /^crosstalk: message from tester to echo, alice$/m);
  assert.match(log, new RegExp(`^id: ${id}$`, "m"));
  const changed = (await git(root, home, "show", "--name-only", "--format=", "HEAD")).trim();
  assert.equal(changed, `data/channels/${await channelId(root, "general")}/${id}`);

  const reply = (await expectCode(0, [
    "message",
    "send",
    "--from",
    "alice",
    "--to",
    "tester",
    "--re",
    id,
    "hi",
    ...p,
  ], {
    home,
  })).stdout.trim();
  assert.equal(await count(), 3);
  const replyLog = await git(root, home, "log", "-1", "--format=%B");
  assert.match(replyLog, /^crosstalk: reply from alice to tester$/m);
  assert.match(replyLog, new RegExp(`^id: ${reply}$`, "m"));

  await expectCode(0, ["channel", "create", "ops", ...p], { home });
  assert.equal(await count(), 4);
  assert.match(await git(root, home, "log", "-1", "--format=%s"), /create channel "ops"/);
  assert.equal(await git(root, home, "status", "--porcelain"), "", "nothing is left uncommitted");

  // A refused send makes no commit.
  await expectCode(65, ["message", "send", "--to", "builtin/nope", "x", ...p], { home });
  assert.equal(await count(), 4);

  // Channel changes are commits too, and a deleted channel leaves nothing behind.
  await expectCode(0, ["message", "send", "--channel", "ops", "--to", "echo", "in ops", ...p], {
    home,
  });
  await expectCode(0, ["channel", "rename", "ops", "ops2", ...p], { home });
  assert.match(await git(root, home, "log", "-1", "--format=%s"), /update channel "ops2"/);
  await expectCode(0, ["channel", "delete", "ops2", ...p], { home });
  assert.equal(await count(), 7);
  assert.match(await git(root, home, "log", "-1", "--format=%s"), /delete channel/);
  assert.equal(await git(root, home, "status", "--porcelain"), "");
  const tracked = await git(root, home, "ls-files", "data/channels");
  assert.equal(tracked.trim().split("\n").filter((f) => f.endsWith("CHANNEL.md")).length, 1);
});

Deno.test("concurrent sends from several processes on a local transport all land", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = await initTransport(home, "bus", "local");
  const senders = Array.from(
    { length: 5 },
    (_, i) =>
      spawnCrosstalk(["message", "send", "--path", root, "--to", "echo", `message ${i}`], home),
  );
  const results = await Promise.all(senders.map(collect));
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const ids = results.map((r) => r.stdout.trim());
  assert.equal(new Set(ids).size, 5);
  const list = await expectCode(0, ["message", "list", "--path", root, "--json"], { home });
  const listed = (JSON.parse(list.stdout) as MessageJson[]).map((m) => m.id);
  assert.deepEqual(listed, [...ids].sort());
  assert.deepEqual(
    (JSON.parse(list.stdout) as MessageJson[]).map((m) => m.body).sort(),
    ["message 0", "message 1", "message 2", "message 3", "message 4"],
  );
});

Deno.test("help goes to stdout with exit 0; usage errors go to stderr with exit 64", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  for (
    const args of [["-h"], ["--help"], ["message", "send", "-h"], ["transport", "init", "--help"]]
  ) {
    const help = await runCrosstalk(args, { home });
    assert.equal(help.code, 0, args.join(" "));
    assert.match(help.stdout, /^Usage: crosstalk/, args.join(" "));
    assert.equal(help.stderr, "");
  }
  const send = await runCrosstalk(["message", "send", "-h"], { home });
  for (const option of ["--to", "--channel", "--from", "--as", "--re", "--file", "--path"]) {
    assert.match(send.stdout, new RegExp(option));
  }

  for (const args of [[], ["bogus"], ["--bogus"], ["message"]]) {
    const usage = await runCrosstalk(args, { home });
    assert.equal(usage.code, 64, args.join(" "));
    assert.equal(usage.stdout, "", args.join(" "));
    assert.match(usage.stderr, /Usage: crosstalk/, args.join(" "));
  }
  const unknown = await runCrosstalk(["bogus"], { home });
  assert.match(unknown.stderr, /unknown command 'bogus'/);

  const version = await expectCode(0, ["version"], { home });
  assert.equal(version.stdout, "crosstalk 0.1.0 (commit dev, protocol 8)\n");
  const json = await expectCode(0, ["version", "--json"], { home });
  assert.deepEqual(JSON.parse(json.stdout), { version: "0.1.0", commit: "dev", protocol: "8" });
  assert.deepEqual(await snapshot(home), {}, "none of these touched the home folder");
});

// Regression (fixed): usage errors below the top level once printed only the error line: an
// unknown option or command below the top level prints only the error line, without help.
Deno.test({
  name: "usage errors below the top level print help on stderr",
  async fn() {
    await using dir = await tempDir();
    const home = dir.path;
    for (
      const args of [
        ["message", "send", "--to", "x", "--bogus"],
        ["channel", "frob"],
        ["transport", "init", "--transport", "ftp"],
      ]
    ) {
      const usage = await runCrosstalk(args, { home });
      assert.equal(usage.code, 64, args.join(" "));
      assert.match(usage.stderr, /^error: /, args.join(" "));
      assert.match(usage.stderr, /Usage: crosstalk/, args.join(" "));
    }
  },
});

// Regression (fixed): help asked for with the `help` command once exited 64
// instead of 0.
Deno.test({
  name: "crosstalk help [command] prints help on stdout and exits 0",
  async fn() {
    await using dir = await tempDir();
    const home = dir.path;
    for (const args of [["help"], ["help", "message"], ["message", "help", "send"]]) {
      const help = await runCrosstalk(args, { home });
      assert.match(help.stdout, /^Usage: crosstalk/, args.join(" "));
      assert.equal(help.code, 0, args.join(" "));
    }
  },
});

// Regression (fixed): the git transport retries a commit only when the error message mentions "index.lock",
// but `git()` keeps only the last 3 lines of git's stderr (the advice text), so the retry never
// happens: concurrent senders fail with exit 75, and their message files stay on disk,
// uncommitted, although the sender was told the send failed.
Deno.test({
  name: "concurrent sends from several processes on a git transport all commit",
  async fn() {
    await using dir = await tempDir();
    const home = dir.path;
    const root = await initTransport(home, "bus", "git");
    const senders = Array.from(
      { length: 5 },
      (_, i) =>
        spawnCrosstalk(["message", "send", "--path", root, "--to", "echo", `message ${i}`], home),
    );
    const results = await Promise.all(senders.map(collect));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal((await git(root, home, "rev-list", "--count", "HEAD")).trim(), "6");
    assert.equal(await git(root, home, "status", "--porcelain"), "");
  },
});

// Regression (fixed): `--file` naming a folder ends in an internal error (exit 70, "Is a directory (os error
// 21)") instead of a usage error that names the option.
Deno.test({
  name: "message send --file with a folder is a usage error",
  async fn() {
    await using dir = await tempDir();
    const home = dir.path;
    const root = await initTransport(home, "bus", "local");
    const result = await runCrosstalk(
      ["message", "send", "--path", root, "--to", "echo", "--file", home],
      { home },
    );
    assert.equal(result.code, 64, result.stderr);
    assert.match(result.stderr, /--file/);
  },
});
