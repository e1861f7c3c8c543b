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
