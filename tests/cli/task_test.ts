// The task flow and badges from the terminal: `task flag | claim | resolve` and `message badge`,
// against a real engine (`crosstalk serve`), as its admin, as another user, as live agents and as
// the tmux agent of the pane they run in (real tmux).
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, runCrosstalk, tempDir } from "../_helpers.ts";
import { makeTransport, namedTransport } from "../engine/_harness.ts";
import { inPane } from "../_tmux.ts";
import { addUserProfile, startTeam, teamApi, teamCredential, teamWithCoder } from "./_live.ts";

/** The CLI on the transport "team", as its engine's admin (boss) unless `profile` says who. */
function cli(home: string, args: string[], profile?: string): Promise<CliResult> {
  return runCrosstalk([
    ...(profile === undefined ? [] : ["--profile", profile]),
    ...args,
    "--containername",
    "team",
  ], { home });
}

async function ok(home: string, args: string[], profile?: string): Promise<string> {
  const r = await cli(home, args, profile);
  assert.equal(r.code, 0, `crosstalk ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

interface TaskRow {
  channel: string;
  id: string;
  state: string;
  claimedBy?: string;
  result?: string;
  reply?: string;
}

/** The task on message `id`, as `task list --all --json` has it. */
async function taskOf(home: string, id: string): Promise<TaskRow | undefined> {
  const tasks = JSON.parse(await ok(home, ["task", "list", "--all", "--json"])) as TaskRow[];
  return tasks.find((t) => t.id === id);
}

/**
 * The CLI as live agent `name` of the team's engine, registered by the admin with `role`: the
 * session's own token in `CROSSTALK_TOKEN`, as an engine gives its agents theirs.
 */
async function asLiveAgent(home: string, name: string, role: string) {
  const { token } = await teamApi(home, "POST", "/api/live", {
    name,
    agent: "aider",
    role,
    wake: "pull",
  }) as { token: string };
  const { server } = await teamCredential(home);
  return (args: string[], stdin?: string) =>
    runCrosstalk(args, {
      home,
      env: { CROSSTALK_API: server, CROSSTALK_TOKEN: token },
      ...(stdin === undefined ? {} : { stdin }),
    });
}

Deno.test("task claim: of two users claiming one task at once exactly one wins, the other exits 75 naming the winner", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  await addUserProfile(home, "ann");
  const id = (await ok(home, ["message", "send", "--to", "ann", "Rotate the deploy keys"])).trim();

  const flagged = await ok(home, ["task", "flag", id]);
  const ref = (await taskOf(home, id))!;
  const short = `${ref.channel.slice(0, 8)}/${id}`;
  assert.equal(flagged, `Flagged ${short} as a task\n`);
  // The reference task list prints is the one the task commands take back.
  const listed = await ok(home, ["task", "list"]);
  assert.match(
    listed,
    new RegExp(`^${short.replace(/[.]/g, "\\.")}\\s+open\\s+boss\\s+anyone`, "m"),
  );

  const [boss, ann] = await Promise.all([
    cli(home, ["task", "claim", short]),
    cli(home, ["task", "claim", short], "ann"),
  ]);
  const codes = [boss.code, ann.code].sort();
  assert.deepEqual(codes, [0, 75], `boss: ${boss.stderr} ann: ${ann.stderr}`);
  const [winner, won, lost] = boss.code === 0 ? ["boss", boss, ann] : ["ann", ann, boss];
  assert.equal(won.stdout, `Claimed ${short}\n`);
  assert.equal(lost.stdout, "");
  assert.equal(lost.stderr, `error: The task was claimed by "${winner}" first\n`);
  assert.equal((await taskOf(home, id))!.claimedBy, winner);

  // The winner claims again: a retry, not a conflict. The loser cannot resolve it.
  assert.equal(
    JSON.parse(
      await ok(home, ["task", "claim", short, "--json"], winner === "ann" ? "ann" : undefined),
    ).claimedBy,
    winner,
  );
  const loser = winner === "boss" ? "ann" : undefined;
  const refused = await cli(home, ["task", "resolve", short, "--result", "done"], loser);
  assert.equal(refused.code, 75);
  assert.match(
    refused.stderr,
    new RegExp(`Only "${winner}", who claimed the task, can resolve it`),
  );
});

Deno.test("task resolve writes the result as a reply to the flagger, and --failed with --file marks it failed", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  await addUserProfile(home, "ann");
  const first = (await ok(home, ["message", "send", "--to", "ann", "Rotate the keys"])).trim();
  await ok(home, ["task", "flag", first]);
  await ok(home, ["task", "claim", first], "ann");

  // Bad usage changes nothing.
  for (const extra of [[], ["--result", "x", "--file", "f"]]) {
    const bad = await cli(home, ["task", "resolve", first, ...extra], "ann");
    assert.equal(bad.code, 64, bad.stderr);
    assert.match(bad.stderr, /Give the result with --result TEXT or --file F \(one of them\)/);
  }
  const missing = await cli(home, ["task", "resolve", first, "--file", join(home, "nope")], "ann");
  assert.equal(missing.code, 64);
  assert.match(missing.stderr, /Cannot read --file ".*nope": it does not exist/);
  assert.equal((await taskOf(home, first))!.state, "claimed");

  const resolved = await ok(home, ["task", "resolve", first, "--result", "rotated"], "ann");
  const task = (await taskOf(home, first))!;
  assert.equal(task.state, "completed");
  assert.equal(task.result, "rotated");
  assert.equal(
    resolved,
    `Resolved ${
      task.channel.slice(0, 8)
    }/${first}: completed; the result is the reply ${task.reply}\n`,
  );
  const replies = JSON.parse(await ok(home, ["message", "replies", first, "--json"])) as {
    id: string;
    from: string;
    to: string[];
    re: string[];
    body: string;
  }[];
  assert.equal(replies.length, 1);
  assert.equal(replies[0]!.id, task.reply);
  assert.equal(replies[0]!.from, "ann");
  assert.deepEqual(replies[0]!.to, ["boss"]);
  assert.deepEqual(replies[0]!.re, [first]);
  assert.equal(replies[0]!.body, "Task completed: rotated");

  // A failure, its reason read from a file, multi-line.
  const second = (await ok(home, ["message", "send", "--to", "ann", "Renew the cert"])).trim();
  await ok(home, ["task", "flag", second]);
  await ok(home, ["task", "claim", second]);
  const why = join(home, "why.txt");
  await Deno.writeTextFile(why, "the CA is down\nretry tomorrow\n");
  const failed = JSON.parse(
    await ok(home, ["task", "resolve", second, "--failed", "--file", why, "--json"]),
  );
  assert.equal(failed.state, "failed");
  assert.equal(failed.result, "the CA is down\nretry tomorrow\n");
  const shown = await ok(home, ["message", "show", failed.reply]);
  assert.match(shown, /\n\nTask failed: the CA is down\nretry tomorrow\n/);
  // Through the engine too, the newest message whole.
  assert.equal(await ok(home, ["message", "list", "--full", "--last", "1"]), `${shown}\n`);
  const status = await ok(home, ["message", "status", second]);
  assert.match(
    status,
    /\n {2}task: failed, flagged by boss, claimed by boss, result: the CA is down\n/,
  );
});

Deno.test("task claim by a live agent of another role is refused with the role, and the task stays open for the right one", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  const id = (await ok(home, ["message", "send", "--to", "here", "Review the migration"])).trim();
  const flagged = JSON.parse(await ok(home, ["task", "flag", id, "--role", "ops", "--json"]));
  assert.equal(flagged.role, "ops");
  assert.equal(flagged.state, "open");

  const dev = await asLiveAgent(home, "dev-agent", "dev");
  const refused = await dev(["task", "claim", id]);
  assert.equal(refused.code, 75, refused.stderr);
  assert.equal(refused.stderr, 'error: This task is for the role "ops", not "dev"\n');
  assert.equal((await taskOf(home, id))!.state, "open");

  const ops = await asLiveAgent(home, "ops-agent", "ops");
  const claimed = await ops(["task", "claim", id]);
  assert.equal(claimed.code, 0, claimed.stderr);
  assert.equal((await taskOf(home, id))!.claimedBy, "ops-agent");
  // The result from standard input.
  const resolved = await ops(["task", "resolve", id, "--file", "/dev/stdin"], "looks good");
  assert.equal(resolved.code, 0, resolved.stderr);
  const reply = JSON.parse(await ok(home, ["message", "replies", id, "--json"]))[0];
  assert.equal(reply.from, "ops-agent");
  assert.equal(reply.body, "Task completed: looks good");

  // Flagged already: another flag is refused, naming who flagged it.
  const again = await cli(home, ["task", "flag", id, "--role", "dev"]);
  assert.equal(again.code, 75);
  assert.equal(again.stderr, 'error: This message is already a task (flagged by "boss")\n');

  // A folder is made absolute, from where the command runs.
  const other = (await ok(home, ["message", "send", "--to", "here", "Fix the build"])).trim();
  const inFolder = await ok(home, ["task", "flag", other, "--cwd", "app"]);
  assert.match(inFolder, new RegExp(`as a task for agents in ${join(home, "app")}\n$`));
});

Deno.test("message badge adds a badge that message status shows; a bad type is refused and adds nothing", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using _engine = await startTeam(home);
  const id = (await ok(home, ["message", "send", "--to", "here", "Ship 1.4 today?"])).trim();
  const channel = (await ok(home, ["message", "show", id])).match(/^channel: +(\S+)$/m)![1]!;

  const added = await ok(home, ["message", "badge", id, "importance", "high"]);
  assert.equal(added, `Added the badge importance=high to ${channel.slice(0, 8)}/${id}\n`);
  const json = JSON.parse(await ok(home, ["message", "badge", id, "question", "--json"]));
  assert.deepEqual([json.type, json.value, json.by], ["question", "", "boss"]);

  const bad = await cli(home, ["message", "badge", id, "Not A Type", "x"]);
  assert.equal(bad.code, 65);
  assert.match(bad.stderr, /A badge type is 1 to 32 lowercase letters, digits, _ or -/);

  const status = await ok(home, ["message", "status", id]);
  assert.match(status, /\n {2}badges: importance=high \(boss\), question \(boss\)\n$/);
  const badges = JSON.parse(await ok(home, ["message", "status", id, "--json"])).badges;
  assert.equal(badges.length, 2);
});

Deno.test("task claim and message badge need an engine: without one they say how to start it", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  const root = join(home, "bus");
  await makeTransport(root, "");
  const id = (await runCrosstalk(["message", "send", "--path", root, "--to", "x", "hi"], { home }))
    .stdout.trim();
  for (const args of [["task", "claim", id], ["message", "badge", id, "importance"]]) {
    const r = await runCrosstalk([...args, "--path", root], { home });
    assert.equal(r.code, 77, r.stderr);
    assert.match(r.stderr, /No engine to talk to: start one with "crosstalk serve"/);
  }
});

/** The task steps of a message as the API records them: its task (null when none) and badges. */
async function notesOf(home: string, ref: { channel: string; id: string }) {
  const { annotations } = await teamApi(
    home,
    "POST",
    `/api/channels/${ref.channel}/annotations`,
    { ids: [ref.id] },
  ) as {
    annotations: Record<
      string,
      { task: TaskRow & { flaggedBy: string } | null; badges: { type: string; by: string }[] }
    >;
  };
  return annotations[ref.id]!;
}

Deno.test("task claim inside a tmux pane registered as coder --role dev acts as coder: a task for role ops is refused naming the role, one for dev is claimed, resolved and badged as coder; message show prints its task and badges", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using team = await teamWithCoder(home, ["--role", "dev"]);
  const { tmux, pane } = team;
  const there = (args: string[], env: Record<string, string> = {}) =>
    runCrosstalk([...args, "--containername", "team"], {
      home,
      env: { ...inPane(tmux, pane), ...env },
    });

  const forOps = (await ok(home, ["message", "send", "--to", "here", "Restart the db"])).trim();
  await ok(home, ["task", "flag", forOps, "--role", "ops"]);
  const refused = await there(["task", "claim", forOps]);
  assert.equal(refused.code, 75, refused.stderr);
  assert.equal(refused.stderr, 'error: This task is for the role "ops", not "dev"\n');
  assert.equal((await taskOf(home, forOps))!.state, "open");
  assert.equal((await taskOf(home, forOps))!.claimedBy, undefined);

  const forDev = (await ok(home, ["message", "send", "--to", "here", "Fix the build"])).trim();
  await ok(home, ["task", "flag", forDev, "--role", "dev"]);
  const claimed = await there(["task", "claim", forDev, "--json"]);
  assert.equal(claimed.code, 0, claimed.stderr);
  assert.equal(JSON.parse(claimed.stdout).claimedBy, "coder");
  assert.equal((await taskOf(home, forDev))!.claimedBy, "coder");
  const resolved = await there(["task", "resolve", forDev, "--result", "green again"]);
  assert.equal(resolved.code, 0, resolved.stderr);
  const badged = await there(["message", "badge", forDev, "commit", "a1b2c3d"]);
  assert.equal(badged.code, 0, badged.stderr);
  const reply = JSON.parse(await ok(home, ["message", "replies", forDev, "--json"]))[0];
  assert.equal(reply.from, "coder");
  assert.equal(reply.body, "Task completed: green again");

  // --from comes first, as for message send: the pane's agent flags as the person it works for.
  const asked = (await ok(home, ["message", "send", "--to", "here", "Tidy up"])).trim();
  const flagged = await there(["task", "flag", asked, "--from", "boss", "--json"]);
  assert.equal(flagged.code, 0, flagged.stderr);
  assert.equal(JSON.parse(flagged.stdout).flaggedBy, "boss");

  // message show prints the task and the badges, one line each, after the header.
  const shown = await ok(home, ["message", "show", forDev]);
  assert.match(
    shown,
    /\ntask: {6}completed, flagged by boss, for role dev, claimed by coder, result: green again\nbadges: {4}commit=a1b2c3d \(coder\)\n\nFix the build\n$/,
  );
  const json = JSON.parse(await ok(home, ["message", "show", forDev, "--json"]));
  assert.equal(json.body, "Fix the build");
  assert.equal(json.task.state, "completed");
  assert.equal(json.task.claimedBy, "coder");
  assert.deepEqual(json.badges.map((b: { type: string; by: string }) => [b.type, b.by]), [
    ["commit", "coder"],
  ]);
  // Straight from the folder too, and nothing for a message with neither.
  const direct = await runCrosstalk(
    ["message", "show", forDev, "--path", namedTransport(home).root],
    { home },
  );
  assert.equal(direct.code, 0, direct.stderr);
  assert.equal(direct.stdout, shown);
  const plain = JSON.parse(await ok(home, ["message", "show", reply.id, "--json"]));
  assert.deepEqual([plain.task, plain.badges], [null, []]);
  assert.doesNotMatch(await ok(home, ["message", "show", reply.id]), /^(task|badges):/m);
});

Deno.test("task and badge steps in a registered tmux pane with a credential that may not act as its agent are refused saying why, and a $CROSSTALK_FROM nobody has is refused naming it; nothing is recorded", async () => {
  await using dir = await tempDir();
  const home = dir.path;
  await using team = await teamWithCoder(home, ["--role", "dev"]);
  const { tmux, pane } = team;
  await addUserProfile(home, "ann");
  const id = (await ok(home, ["message", "send", "--to", "here", "Fix the build"])).trim();
  const ref = JSON.parse(await ok(home, ["message", "show", id, "--json"]));
  await ok(home, ["task", "flag", id]);

  for (const args of [["task", "claim", id], ["message", "badge", id, "importance", "high"]]) {
    const refused = await runCrosstalk(["--profile", "ann", ...args], {
      home,
      env: inPane(tmux, pane),
    });
    assert.equal(refused.code, 77, refused.stderr);
    assert.equal(
      refused.stderr,
      `error: Cannot act as "coder" (the tmux agent registered for this pane (${pane})): this ` +
        `credential acts as "ann" only, and only an admin's token may act as someone else. Act ` +
        `as "ann" with --from ann\n`,
    );
  }
  const nobody = await runCrosstalk(["task", "claim", id, "--containername", "team"], {
    home,
    env: { CROSSTALK_FROM: "nobody" },
  });
  assert.equal(nobody.code, 65, nobody.stderr);
  assert.equal(
    nobody.stderr,
    'error: Cannot act as "nobody" ($CROSSTALK_FROM): No tmux agent, live agent, user or model ' +
      'is called "nobody"\n',
  );
  const notes = await notesOf(home, ref);
  assert.equal(notes.task!.state, "open");
  assert.deepEqual(notes.badges, []);

  // As herself, ann claims.
  const own = await runCrosstalk(["--profile", "ann", "task", "claim", id, "--from", "ann"], {
    home,
    env: inPane(tmux, pane),
  });
  assert.equal(own.code, 0, own.stderr);
  assert.equal((await notesOf(home, ref)).task!.claimedBy, "ann");
});
