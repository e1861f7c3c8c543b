// deploy/install.sh: POSIX sh that parses under dash, plans the user and folders, rejects typos.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../deploy/install.sh", import.meta.url));

async function sh(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // dash, where there is one: a strict POSIX shell catches bashisms that bash would accept.
  const shell = await Deno.stat("/bin/dash").then(() => "/bin/dash", () => "/bin/sh");
  const out = await new Deno.Command(shell, { args, stdout: "piped", stderr: "piped" }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("deploy/install.sh parses as POSIX sh and sets -eu", async () => {
  const parsed = await sh(["-n", SCRIPT]);
  assert.equal(parsed.code, 0, parsed.stderr);
  assert.match(await Deno.readTextFile(SCRIPT), /^set -eu$/m);
});

Deno.test("deploy/install.sh --dry-run plans the crosstalk user's folders with their owners", async () => {
  const planned = await sh([SCRIPT, "--dry-run"]);
  assert.equal(planned.code, 0, planned.stderr);
  for (
    const line of [
      "install -d -m 0750 -o crosstalk -g crosstalk /var/lib/crosstalk",
      "install -d -m 0750 -o root -g crosstalk /etc/crosstalk",
      "install -d -m 0750 -o crosstalk -g crosstalk /var/log/crosstalk",
    ]
  ) assert.ok(planned.stdout.split("\n").includes(line), `${line}\n${planned.stdout}`);
  // Either the user exists already, or the plan creates it as a system user homed in /var/lib.
  assert.match(
    planned.stdout,
    /user 'crosstalk' exists|useradd --system --user-group --home-dir \/var\/lib\/crosstalk|adduser -S/,
  );
});

Deno.test("deploy/install.sh rejects an unknown argument with exit 64", async () => {
  const wrong = await sh([SCRIPT, "--sytem"]);
  assert.equal(wrong.code, 64);
  assert.match(wrong.stderr, /unknown argument '--sytem'/);
});

Deno.test("deploy/install.sh --dry-run on macOS plans a hidden account with the lowest free id from 300", async () => {
  const bin = await Deno.makeTempDir({ prefix: "crosstalk-fake-mac-" });
  try {
    const fake = async (name: string, body: string) => {
      await Deno.writeTextFile(`${bin}/${name}`, `#!/bin/sh\n${body}\n`);
      await Deno.chmod(`${bin}/${name}`, 0o755);
    };
    await fake("uname", "echo Darwin");
    await fake("id", "exit 1 # no such user yet");
    await fake(
      "dscl",
      'case "$3" in\n  /Users) printf "root 0\\n_www 70\\nalice 300\\n" ;;\n' +
        '  /Groups) printf "wheel 0\\nstaff 20\\nbuilders 301\\n" ;;\nesac',
    );
    const shell = await Deno.stat("/bin/dash").then(() => "/bin/dash", () => "/bin/sh");
    const out = await new Deno.Command(shell, {
      args: [SCRIPT, "--dry-run"],
      env: { PATH: `${bin}:/usr/bin:/bin` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const lines = stdout.split("\n");
    for (
      const line of [
        "dscl . -create /Groups/crosstalk PrimaryGroupID 302",
        "dscl . -create /Users/crosstalk UniqueID 302",
        "dscl . -create /Users/crosstalk NFSHomeDirectory /var/lib/crosstalk",
        "dscl . -create /Users/crosstalk UserShell /usr/bin/false",
        "dscl . -create /Users/crosstalk IsHidden 1",
      ]
    ) assert.ok(lines.includes(line), `${line}\n${stdout}`);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

/** A folder of stand-in programs for install.sh: each a small sh script. */
async function fakeBin(programs: Record<string, string>): Promise<string & AsyncDisposable> {
  const bin = await Deno.makeTempDir({ prefix: "crosstalk-fake-bin-" });
  for (const [name, body] of Object.entries(programs)) {
    await Deno.writeTextFile(`${bin}/${name}`, `#!/bin/sh\n${body}\n`);
    await Deno.chmod(`${bin}/${name}`, 0o755);
  }
  return Object.assign(bin, {
    [Symbol.asyncDispose]: () => Deno.remove(bin, { recursive: true }),
  }) as string & AsyncDisposable;
}

/** install.sh run with `bin` first on PATH and the unit template's folder at `units`. */
async function installWith(bin: string, units: string, args: string[]) {
  const shell = await Deno.stat("/bin/dash").then(() => "/bin/dash", () => "/bin/sh");
  const out = await new Deno.Command(shell, {
    args: [SCRIPT, ...args],
    env: { PATH: `${bin}:/usr/bin:/bin`, CROSSTALK_SYSTEMD_UNIT_DIR: units },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Linux with systemd, root, the crosstalk user there; `install` and `systemctl` only record. */
const LINUX_ROOT = {
  uname: "echo Linux",
  id: '[ "$1" = -u ] && echo 0; exit 0',
  install: 'echo "install $*" >>"$(dirname "$0")/calls"',
  systemctl: 'echo "systemctl $*" >>"$(dirname "$0")/calls"',
};

Deno.test("deploy/install.sh writes the crosstalk@ unit template that crosstalk prints, reloads systemd, and then says enable crosstalk@NAME", async () => {
  await using bin = await fakeBin({
    ...LINUX_ROOT,
    crosstalk: '[ "$*" = "service print --system --systemd" ] || exit 9\n' +
      'printf "[Unit]\\nDescription=crosstalk engine (%%i)\\n"',
  });
  await using units = await fakeBin({});
  const first = await installWith(bin, units, []);
  assert.equal(first.code, 0, first.stderr);
  const unit = `${units}/crosstalk@.service`;
  assert.equal(await Deno.readTextFile(unit), "[Unit]\nDescription=crosstalk engine (%i)\n");
  assert.equal((await Deno.stat(unit)).mode! & 0o777, 0o644);
  const calls = () => Deno.readTextFile(`${bin}/calls`).then((t) => t.trim().split("\n"));
  assert.ok((await calls()).includes("systemctl daemon-reload"), (await calls()).join("\n"));
  assert.match(first.stdout, /sudo systemctl enable --now crosstalk@NAME$/m);
  assert.deepEqual([...Deno.readDirSync(units)].map((e) => e.name), ["crosstalk@.service"]);

  // Run again: the template there (perhaps edited) is kept, and systemd is not reloaded.
  await Deno.writeTextFile(unit, "# edited\n");
  await Deno.remove(`${bin}/calls`);
  const again = await installWith(bin, units, []);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await Deno.readTextFile(unit), "# edited\n");
  assert.ok(!(await calls()).some((c) => c.startsWith("systemctl")));
  assert.match(again.stdout, /unit template .*crosstalk@\.service exists/);
});

Deno.test("deploy/install.sh --dry-run plans the unit template, and without crosstalk on PATH says to install it first", async () => {
  await using bin = await fakeBin({ ...LINUX_ROOT, crosstalk: "exit 9" });
  await using units = await fakeBin({});
  const planned = await installWith(bin, units, ["--dry-run"]);
  assert.equal(planned.code, 0, planned.stderr);
  const lines = planned.stdout.split("\n");
  assert.ok(
    lines.includes(`crosstalk service print --system --systemd > ${units}/crosstalk@.service`),
    planned.stdout,
  );
  assert.ok(lines.includes("systemctl daemon-reload"), planned.stdout);
  assert.deepEqual([...Deno.readDirSync(units)], [], "a dry run writes nothing");

  await Deno.remove(`${bin}/crosstalk`);
  const without = await installWith(bin, units, ["--dry-run"]);
  assert.equal(without.code, 0, without.stderr);
  assert.match(without.stdout, /crosstalk is not on PATH: install it, then run this again/);
  assert.match(without.stdout, /sudo crosstalk service install --system --containername NAME$/m);
  assert.doesNotMatch(without.stdout, /daemon-reload/);
});

Deno.test("deploy/install.sh stops, names the failure and leaves no half unit when crosstalk cannot print the template", async () => {
  await using bin = await fakeBin({
    ...LINUX_ROOT,
    crosstalk: 'printf "[Unit]\\n"; echo "crosstalk: broken" >&2; exit 3',
  });
  await using units = await fakeBin({});
  const run = await installWith(bin, units, []);
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /crosstalk service print failed: .*crosstalk@\.service not written/);
  assert.deepEqual([...Deno.readDirSync(units)], [], "no crosstalk@.service, no .tmp");
  const calls = await Deno.readTextFile(`${bin}/calls`).catch(() => "");
  assert.ok(!calls.includes("daemon-reload"), calls);
});
