import assert from "node:assert/strict";
import { join } from "node:path";
import {
  FileCallTimer,
  readSmallDirNames,
  SLOW_FILE_CALL_MS,
  TEMP_PREFIX,
  writeFileAtomic,
} from "../../transports/_fs.ts";
import { checkTransport } from "../../engine/check.ts";
import { LocalTransport, MESSAGE_TEMP_DIR, scaffoldTransport } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("writeFileAtomic with a temp folder links the file into place and leaves no temp file", async () => {
  await using dir = await tempDir();
  const temps = join(dir.path, "temps");
  const target = join(dir.path, "a", "b", "file.md");
  assert.equal(
    await writeFileAtomic(target, "one", { exclusive: true, sync: true, tempDir: temps }),
    "tempDir",
  );
  assert.equal(await Deno.readTextFile(target), "one");
  assert.deepEqual(names(join(dir.path, "a", "b")), ["file.md"]);
  assert.deepEqual(names(temps), []);
});

Deno.test("writeFileAtomic with a temp folder refuses a taken name and keeps the first file", async () => {
  await using dir = await tempDir();
  const temps = join(dir.path, "temps");
  const target = join(dir.path, "file.md");
  await writeFileAtomic(target, "first", { exclusive: true, tempDir: temps });
  await assert.rejects(
    writeFileAtomic(target, "second", { exclusive: true, tempDir: temps }),
    Deno.errors.AlreadyExists,
  );
  assert.equal(await Deno.readTextFile(target), "first");
  assert.deepEqual(names(temps), []);
  assert.deepEqual(names(dir.path), ["file.md", "temps"]);
});

// /dev/shm is tmpfs on Linux, another filesystem than the temp folders: a hard link cannot cross.
const otherFilesystem = (() => {
  try {
    const temp = Deno.makeTempDirSync();
    const other = Deno.statSync("/dev/shm").dev !== Deno.statSync(temp).dev;
    Deno.removeSync(temp);
    return other;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "writeFileAtomic falls back to a temp file beside the target when the link cannot cross filesystems",
  ignore: !otherFilesystem,
  async fn() {
    await using dir = await tempDir();
    const shm = await Deno.makeTempDir({ dir: "/dev/shm" });
    try {
      const target = join(dir.path, "file.md");
      assert.equal(
        await writeFileAtomic(target, "across", { exclusive: true, tempDir: shm }),
        "beside",
      );
      assert.equal(await Deno.readTextFile(target), "across");
      assert.deepEqual(names(dir.path), ["file.md"]);
      assert.deepEqual(names(shm), []);
    } finally {
      await Deno.remove(shm, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a transport whose temp folder is on another filesystem stops using it after the first message",
  ignore: !otherFilesystem,
  async fn() {
    await using dir = await tempDir();
    await scaffoldTransport(dir.path, { kind: "local" });
    const shm = await Deno.makeTempDir({ dir: "/dev/shm" });
    const temps = join(dir.path, MESSAGE_TEMP_DIR);
    try {
      await Deno.remove(temps, { recursive: true }).catch(() => {});
      await Deno.symlink(shm, temps);
      const transport = new LocalTransport(dir.path);
      const channel = await transport.createChannel({ name: "work" });
      const send = (body: string) =>
        transport.writeMessage(channel.id, {
          from: "steve",
          to: ["sonnet"],
          timestamp: new Date().toISOString(),
          body,
        });
      const first = await send("first");
      // The temp folder becomes a file: a transport that still wrote there would fail now.
      await Deno.remove(temps);
      await Deno.writeTextFile(temps, "");
      const second = await send("second");
      for (const [m, body] of [[first, "first"], [second, "second"]] as const) {
        assert.equal((await transport.readMessage(channel.id, m.id)).body.trim(), body);
      }
      assert.deepEqual(names(shm), []);
    } finally {
      await Deno.remove(shm, { recursive: true });
    }
  },
});

Deno.test("a watcher of a channel sees only final message names, never a temp file", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "local" });
  const transport = new LocalTransport(dir.path);
  const channel = await transport.createChannel({ name: "work" });
  // The day folder exists first, so that the watch sees every file event in it.
  await transport.writeMessage(channel.id, {
    from: "steve",
    to: ["sonnet"],
    timestamp: new Date().toISOString(),
    body: "first",
  });
  const watcher = Deno.watchFs(join(transport.channelsDir, channel.id), { recursive: true });
  const seen = new Set<string>();
  const written: string[] = [];
  let allSeen = () => {};
  const done = new Promise<void>((resolve) => allSeen = resolve);
  const check = () => {
    if (written.length === 20 && written.every((p) => seen.has(p))) allSeen();
  };
  const watching = (async () => {
    for await (const event of watcher) {
      for (const path of event.paths) seen.add(path);
      check();
    }
  })();
  for (let i = 0; i < 20; i++) {
    const message = await transport.writeMessage(channel.id, {
      from: "steve",
      to: ["sonnet"],
      timestamp: new Date().toISOString(),
      body: `message ${i}`,
    });
    written.push(join(transport.channelsDir, channel.id, message.id));
  }
  check();
  try {
    await done;
  } finally {
    watcher.close();
    await watching;
  }
  assert.deepEqual([...seen].filter((p) => p.includes(TEMP_PREFIX)), []);
});

Deno.test("transport check reports a message temp file an interrupted write left, not one in flight", async () => {
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "local" });
  const temps = join(dir.path, MESSAGE_TEMP_DIR);
  await Deno.mkdir(temps);
  const old = join(temps, `${TEMP_PREFIX}0123abcd`);
  await Deno.writeTextFile(old, "half a message");
  const hoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
  await Deno.utime(old, hoursAgo, hoursAgo);
  await Deno.writeTextFile(join(temps, `${TEMP_PREFIX}4567cdef`), "being written");
  const report = await checkTransport(dir.path, {});
  const temp = report.findings.filter((f) => f.file.startsWith(MESSAGE_TEMP_DIR));
  assert.deepEqual(temp.map((f) => [f.severity, f.file]), [
    ["warning", `${MESSAGE_TEMP_DIR}/${TEMP_PREFIX}0123abcd`],
  ]);
  assert.match(temp[0]!.message, /interrupted write/);
});

Deno.test("file calls stay in place while they are quick, despite stalls, and move to the pool once the typical one is slow", async () => {
  const timer = new FileCallTimer();
  const ways: string[] = [];
  const call = () =>
    timer.run(() => ways.push("in place"), () => Promise.resolve(ways.push("pool")));
  // A busy machine: a third of the calls stall for 50 ms (the thread lost its core).
  for (let i = 0; i < 300; i++) timer.record(i % 3 === 0 ? 50 : SLOW_FILE_CALL_MS / 10);
  await call();
  assert.equal(timer.inPlace, true);
  // A network mount: every call is slow.
  for (let i = 0; i < 32; i++) timer.record(SLOW_FILE_CALL_MS * 3);
  assert.equal(timer.inPlace, false);
  await call();
  assert.deepEqual(ways, ["in place", "pool"]);
});

Deno.test("an in-place file call that fails rejects with Deno's own error", async () => {
  const timer = new FileCallTimer();
  await assert.rejects(
    timer.run(() => Deno.removeSync("/nonexistent/crosstalk"), () => Promise.resolve()),
    Deno.errors.NotFound,
  );
  assert.equal(timer.inPlace, true);
});

Deno.test("readSmallDirNames lists a folder's entries with their kinds, and nothing for a missing folder or a path under a file", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(join(dir.path, "a~task.json"), "{}");
  await Deno.mkdir(join(dir.path, "receipts"));
  const listed = (await readSmallDirNames(dir.path))
    .map((e) => `${e.name}:${e.isDirectory ? "dir" : "file"}`).sort();
  assert.deepEqual(listed, ["a~task.json:file", "receipts:dir"]);
  assert.deepEqual(await readSmallDirNames(join(dir.path, "missing")), []);
  assert.deepEqual(await readSmallDirNames(join(dir.path, "a~task.json", "x")), []);
});
