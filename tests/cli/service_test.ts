// Service units: golden files of every rendered unit, checked by systemd-analyze and plistutil,
// and `crosstalk service print | install | uninstall` as a subprocess against a recording
// systemctl/launchctl on PATH (no service manager runs in a test).
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type EngineProgram,
  engineProgram,
  hiddenFromSystemService,
  planService,
  renderSystemdUnit,
  type ServiceKind,
  type ServicePlan,
  systemdWord,
} from "../../engine/service.ts";
import { detectMode, type ServiceMode } from "../../engine/system_paths.ts";
import { MAIN, tempDir } from "../_helpers.ts";
import { expectCode, runCrosstalk } from "./_cli.ts";
import { V8_FLAGS } from "../../engine/which.ts";

const GOLDEN = fileURLToPath(new URL("../testdata/service/", import.meta.url));
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";
const decoder = new TextDecoder();

const COMPILED = { execPath: "/usr/local/bin/crosstalk", args: [] };
const FROM_SOURCE = { execPath: "/usr/bin/deno", args: ["run", "-A", "/opt/crosstalk/main.ts"] };
const FACTS = { env: { HOME: "/home/ann", PATH: "/usr/bin:/bin" }, uid: 501, version: "0.0.0" };

interface GoldenCase {
  file: string;
  kind: ServiceKind;
  mode: ServiceMode;
  containername?: string;
  program: EngineProgram;
  installedAt: string;
  start: string[][];
}

const CASES: GoldenCase[] = [
  {
    file: "user-default.service",
    kind: "systemd",
    mode: "user",
    program: COMPILED,
    installedAt: "/home/ann/.config/systemd/user/crosstalk.service",
    start: [["systemctl", "--user", "daemon-reload"], [
      "systemctl",
      "--user",
      "enable",
      "--now",
      "crosstalk.service",
    ]],
  },
  {
    file: "user-named-deno-run.service",
    kind: "systemd",
    mode: "user",
    containername: "work",
    program: FROM_SOURCE,
    installedAt: "/home/ann/.config/systemd/user/crosstalk-work.service",
    start: [["systemctl", "--user", "daemon-reload"], [
      "systemctl",
      "--user",
      "enable",
      "--now",
      "crosstalk-work.service",
    ]],
  },
  {
    file: "crosstalk@.service",
    kind: "systemd",
    mode: "system",
    containername: "work",
    program: COMPILED,
    installedAt: "/etc/systemd/system/crosstalk@.service",
    start: [["systemctl", "daemon-reload"], [
      "systemctl",
      "enable",
      "--now",
      "crosstalk@work.service",
    ]],
  },
  {
    file: "launch-agent.plist",
    kind: "launchd",
    mode: "user",
    containername: "work",
    program: COMPILED,
    installedAt: "/home/ann/Library/LaunchAgents/crosstalk.work.plist",
    start: [[
      "launchctl",
      "bootstrap",
      "gui/501",
      "/home/ann/Library/LaunchAgents/crosstalk.work.plist",
    ]],
  },
  {
    file: "launch-daemon.plist",
    kind: "launchd",
    mode: "system",
    containername: "work",
    program: COMPILED,
    installedAt: "/Library/LaunchDaemons/crosstalk.work.plist",
    start: [["launchctl", "bootstrap", "system", "/Library/LaunchDaemons/crosstalk.work.plist"]],
  },
];

function planFor(c: GoldenCase, program = c.program): ServicePlan {
  return planService(
    { kind: c.kind, mode: c.mode, containername: c.containername },
    { ...FACTS, program },
  );
}

for (const c of CASES) {
  Deno.test(`planService renders the ${c.mode} ${c.kind} unit as in testdata/service/${c.file}`, async () => {
    const plan = planFor(c);
    const path = join(GOLDEN, c.file);
    if (UPDATE) await Deno.writeTextFile(path, plan.text);
    assert.equal(plan.text, await Deno.readTextFile(path));
    assert.equal(plan.file, c.installedAt);
    assert.deepEqual(plan.start, c.start);
  });
}

Deno.test("systemd units run the program by absolute path and never rely on the working directory", () => {
  for (const c of CASES.filter((c) => c.kind === "systemd")) {
    const text = planFor(c).text;
    const exec = /^ExecStart=(\S+)/m.exec(text)?.[1];
    assert.equal(exec, c.program.execPath);
    assert.match(text, /^WorkingDirectory=\//m);
    assert.doesNotMatch(text, /deno task/);
  }
  const user = planFor(CASES[0]!).text;
  assert.match(user, /^WantedBy=default\.target$/m);
  const system = planFor(CASES[2]!).text;
  for (
    const line of [
      "User=crosstalk",
      "StateDirectory=crosstalk/%i",
      "LogsDirectory=crosstalk",
      "RuntimeDirectory=crosstalk/%i",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "ReadWritePaths=/var/lib/crosstalk",
      "ExecStart=/usr/local/bin/crosstalk serve --path /var/lib/crosstalk/%i/transport",
    ]
  ) assert.ok(system.split("\n").includes(line), `${line} in the system unit`);
});

Deno.test("systemdWord escapes specifiers, variables and quotes words with spaces", () => {
  assert.equal(systemdWord("/opt/a b/crosstalk"), '"/opt/a b/crosstalk"');
  assert.equal(systemdWord("50%"), "50%%");
  assert.equal(systemdWord("$HOME"), "$$HOME");
  assert.equal(systemdWord('say "hi"'), '"say \\"hi\\""');
  assert.equal(systemdWord(""), '""');
});

Deno.test("engineProgram runs a compiled binary alone and a source checkout with deno run -A and crosstalk's V8 flags", () => {
  assert.deepEqual(
    engineProgram({
      execPath: "/usr/local/bin/crosstalk",
      mainModule: "file:///x",
      standalone: true,
    }),
    { execPath: "/usr/local/bin/crosstalk", args: [] },
  );
  assert.deepEqual(
    engineProgram({
      execPath: "/usr/bin/deno",
      mainModule: "file:///opt/cross%20talk/main.ts",
      standalone: false,
    }),
    { execPath: "/usr/bin/deno", args: ["run", "-A", V8_FLAGS, "/opt/cross talk/main.ts"] },
  );
  assert.throws(
    () =>
      engineProgram({
        execPath: "/usr/bin/deno",
        mainModule: "https://example.com/main.ts",
        standalone: false,
      }),
    /install crosstalk locally/,
  );
  assert.deepEqual(hiddenFromSystemService(FROM_SOURCE), []);
  assert.deepEqual(
    hiddenFromSystemService({ execPath: "/home/ann/.deno/bin/deno", args: ["run", "/tmp/m.ts"] }),
    ["/home/ann/.deno/bin/deno", "/tmp/m.ts"],
  );
});

Deno.test("detectMode: flags first, then CROSSTALK_USER_MODE, then the crosstalk user and root", () => {
  const facts = (env: Record<string, string>, uid: number | null) => ({ env, uid });
  assert.equal(detectMode({}, facts({}, 1000)), "user");
  assert.equal(detectMode({}, facts({}, 0)), "system");
  assert.equal(detectMode({}, facts({ CROSSTALK_USER_MODE: "1" }, 0)), "user");
  assert.equal(detectMode({}, facts({ USER: "crosstalk" }, 999)), "system");
  assert.equal(detectMode({}, facts({}, null)), "user");
  assert.equal(detectMode({ system: true }, facts({ CROSSTALK_USER_MODE: "1" }, 1000)), "system");
  assert.equal(detectMode({ user: true }, facts({}, 0)), "user");
  assert.throws(() => detectMode({ user: true, system: true }, facts({}, 0)), /not both/);
});

// Real checkers -------------------------------------------------------------------------------

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  const output = await new Deno.Command(cmd, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    out: (decoder.decode(output.stdout) + decoder.decode(output.stderr)).trim(),
  };
}

/** Runs `systemd-analyze verify`, failing loudly when the tool itself cannot work here. */
async function verifyUnit(dir: string, file: string, user: boolean): Promise<string> {
  const runtime = join(dir, "runtime");
  await Deno.mkdir(runtime, { recursive: true, mode: 0o700 });
  const env = { XDG_RUNTIME_DIR: runtime, SYSTEMD_LOG_COLOR: "0" };
  const scope = user ? ["--user"] : [];
  // A unit that cannot be wrong: if this fails, the tool does not work on this machine.
  const control = join(dir, "crosstalk-control.service");
  await Deno.writeTextFile(control, "[Service]\nExecStart=/bin/true\n");
  let result;
  try {
    result = await run("systemd-analyze", [...scope, "verify", "--man=no", control], env);
  } catch (error) {
    throw new Error(
      `systemd-analyze is not installed (Debian package systemd; scripts/setup_test_deps.sh): ${error}`,
    );
  }
  if (result.code !== 0 || result.out !== "") {
    throw new Error(
      `systemd-analyze verify does not work on this machine, so the units are unchecked: ${result.out}`,
    );
  }
  const verified = await run("systemd-analyze", [...scope, "verify", "--man=no", file], env);
  return verified.code === 0 ? verified.out : `exit ${verified.code}: ${verified.out}`;
}

const HERE = engineProgram({
  execPath: Deno.execPath(),
  mainModule: new URL(`file://${MAIN}`).href,
  standalone: false,
});

Deno.test("systemd-analyze verify accepts the rendered user unit and the system template", async () => {
  await using dir = await tempDir();
  for (const c of CASES.filter((c) => c.kind === "systemd")) {
    // ExecStart must exist for verify: render with the Deno running this test.
    const plan = planFor(c, HERE);
    const name = plan.file.split("/").at(-1)!;
    await Deno.writeTextFile(join(dir.path, name), plan.text);
    // A template is verified through an instance of it.
    const target = join(dir.path, name.replace("@.service", "@work.service"));
    assert.equal(await verifyUnit(dir.path, target, c.mode === "user"), "", `${c.file}`);
  }
});

Deno.test("systemd-analyze verify flags a broken unit (the check can fail)", async () => {
  await using dir = await tempDir();
  const plan = planFor(CASES[0]!, HERE);
  const broken = plan.text.replace("KillMode=mixed", "KillMode=sometimes");
  const file = join(dir.path, "crosstalk.service");
  await Deno.writeTextFile(file, broken);
  assert.match(await verifyUnit(dir.path, file, true), /kill mode/i);
  await Deno.writeTextFile(file, renderSystemdUnit({ ...unitOptionsOf(plan), program: missing() }));
  assert.match(await verifyUnit(dir.path, file, true), /not executable/);
});

function missing() {
  return { execPath: "/nonexistent/crosstalk", args: [] };
}

function unitOptionsOf(plan: ServicePlan) {
  return {
    mode: plan.mode,
    name: plan.name,
    program: HERE,
    serveArgs: ["serve"],
    user: "crosstalk",
    paths: { home: "/", log: "", data: "", logs: "", envFile: "" },
    envPath: "/usr/bin:/bin",
    version: "0.0.0",
    stopTimeoutSeconds: 45,
  };
}

/** Parses a plist with plistutil (XML → binary → XML); returns the XML it reads back. */
async function plistRoundTrip(dir: string, text: string): Promise<string> {
  const xml = join(dir, "in.plist");
  const bin = join(dir, "out.bplist");
  const back = join(dir, "back.plist");
  await Deno.remove(bin).catch(() => {});
  await Deno.writeTextFile(xml, text);
  let toBin;
  try {
    toBin = await run("plistutil", ["-i", xml, "-f", "bin", "-o", bin]);
  } catch (error) {
    throw new Error(
      `plistutil is not installed (Debian package libplist-utils; scripts/setup_test_deps.sh): ${error}`,
    );
  }
  // plistutil exits 0 even when it cannot parse: its message and the missing output tell.
  if (toBin.out !== "" || !(await Deno.stat(bin).catch(() => undefined))) {
    throw new Error(`plistutil cannot parse the plist: ${toBin.out}`);
  }
  const toXml = await run("plistutil", ["-i", bin, "-f", "xml", "-o", back]);
  assert.equal(toXml.out, "");
  return await Deno.readTextFile(back);
}

Deno.test("plistutil reads back both property lists exactly as rendered", async () => {
  await using dir = await tempDir();
  for (const c of CASES.filter((c) => c.kind === "launchd")) {
    const text = planFor(c).text;
    const withoutComment = text.split("\n").filter((l) => !l.startsWith("<!--")).join("\n");
    assert.equal(await plistRoundTrip(dir.path, text), withoutComment, c.file);
  }
  await assert.rejects(
    plistRoundTrip(dir.path, planFor(CASES[3]!).text.replace("</array>", "")),
    /cannot parse/,
  );
});

// The command ----------------------------------------------------------------------------------

/** A folder with `systemctl` and `launchctl` scripts that record their arguments. */
async function recordingTools(dir: string): Promise<{ bin: string; log: string }> {
  const bin = join(dir, "fakebin");
  const log = join(dir, "calls.log");
  await Deno.mkdir(bin);
  for (const tool of ["systemctl", "launchctl"]) {
    const script = join(bin, tool);
    await Deno.writeTextFile(
      script,
      `#!/bin/sh\necho "${tool} $*" >> "$CALLS"\n` +
        `if [ -n "\${FAIL_ON:-}" ] && [ "$1 $2" = "$FAIL_ON" ]; then echo "refused: $*" >&2; exit 1; fi\n`,
    );
    await Deno.chmod(script, 0o755);
  }
  return { bin, log };
}

async function calls(log: string): Promise<string[]> {
  const text = await Deno.readTextFile(log).catch(() => "");
  await Deno.remove(log).catch(() => {});
  return text.split("\n").filter((l) => l !== "");
}

Deno.test("service print renders for this program; install refuses to overwrite without --force; uninstall stops first", async () => {
  await using dir = await tempDir();
  const tools = await recordingTools(dir.path);
  const env = {
    PATH: `${tools.bin}:${Deno.env.get("PATH")}`,
    CALLS: tools.log,
    CROSSTALK_USER_MODE: "1",
  };
  const home = dir.path;
  const args = ["--systemd", "--containername", "work"];
  const printed = await expectCode(0, ["service", "print", ...args], { home, env });
  assert.match(
    printed.stdout,
    new RegExp(
      `^ExecStart=${Deno.execPath()} run -A ${V8_FLAGS} ${MAIN} serve --containername work$`,
      "m",
    ),
  );

  const unit = join(home, ".config", "systemd", "user", "crosstalk-work.service");
  const installed = await expectCode(0, ["service", "install", ...args], { home, env });
  assert.match(installed.stdout, /Started crosstalk-work\.service/);
  assert.equal(await Deno.readTextFile(unit), printed.stdout);
  assert.deepEqual(await calls(tools.log), [
    "systemctl --user daemon-reload",
    "systemctl --user enable --now crosstalk-work.service",
  ]);

  await Deno.writeTextFile(unit, "# edited by hand\n");
  const again = await expectCode(73, ["service", "install", ...args], { home, env });
  assert.match(again.stderr, /already exists \(use --force to replace it\)/);
  assert.equal(await Deno.readTextFile(unit), "# edited by hand\n");
  assert.deepEqual(await calls(tools.log), []);

  await expectCode(0, ["service", "install", "--force", ...args], { home, env });
  assert.equal(await Deno.readTextFile(unit), printed.stdout);
  assert.deepEqual(await calls(tools.log), [
    "systemctl --user disable --now crosstalk-work.service",
    "systemctl --user daemon-reload",
    "systemctl --user enable --now crosstalk-work.service",
  ]);

  const removed = await expectCode(0, ["service", "uninstall", ...args], { home, env });
  assert.match(removed.stdout, /Stopped crosstalk-work\.service and removed/);
  await assert.rejects(Deno.stat(unit), Deno.errors.NotFound);
  assert.deepEqual(await calls(tools.log), [
    "systemctl --user disable --now crosstalk-work.service",
    "systemctl --user daemon-reload",
  ]);
});

Deno.test("service install takes back a new unit that systemctl cannot enable, and says why", async () => {
  await using dir = await tempDir();
  const tools = await recordingTools(dir.path);
  const env = {
    PATH: `${tools.bin}:${Deno.env.get("PATH")}`,
    CALLS: tools.log,
    CROSSTALK_USER_MODE: "1",
    FAIL_ON: "--user enable",
  };
  const failed = await runCrosstalk(["service", "install", "--systemd"], { home: dir.path, env });
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(
    failed.stderr,
    /`systemctl --user enable --now crosstalk\.service` failed \(exit 1\): refused/,
  );
  await assert.rejects(
    Deno.stat(join(dir.path, ".config", "systemd", "user", "crosstalk.service")),
    Deno.errors.NotFound,
  );
});

Deno.test("service install --launchd writes a LaunchAgent, makes its log folder and bootstraps it", async () => {
  await using dir = await tempDir();
  const tools = await recordingTools(dir.path);
  const env = { PATH: `${tools.bin}:${Deno.env.get("PATH")}`, CALLS: tools.log };
  const home = dir.path;
  const args = ["--launchd", "--user", "--containername", "work"];
  await expectCode(0, ["service", "install", ...args], { home, env });
  const plist = join(home, "Library", "LaunchAgents", "crosstalk.work.plist");
  assert.match(await Deno.readTextFile(plist), /<string>crosstalk\.work<\/string>/);
  assert.ok((await Deno.stat(join(home, "Library", "Logs", "crosstalk"))).isDirectory);
  const uid = Deno.uid();
  assert.deepEqual(await calls(tools.log), [`launchctl bootstrap gui/${uid} ${plist}`]);
  await expectCode(0, ["service", "uninstall", ...args], { home, env });
  assert.deepEqual(await calls(tools.log), [`launchctl bootout gui/${uid}/crosstalk.work`]);
  await assert.rejects(Deno.stat(plist), Deno.errors.NotFound);
});

Deno.test("service install says which tool is missing, and print needs one kind", async () => {
  await using dir = await tempDir();
  const env = { PATH: "/nonexistent", CROSSTALK_USER_MODE: "1" };
  const noTool = await runCrosstalk(["service", "install", "--launchd"], { home: dir.path, env });
  assert.equal(noTool.code, 1);
  assert.match(noTool.stderr, /"launchctl" is not on PATH \(launchd runs on macOS/);
  const both = await runCrosstalk(["service", "print", "--systemd", "--launchd"], {
    home: dir.path,
  });
  assert.equal(both.code, 64);
  assert.match(both.stderr, /either --systemd or --launchd/);
});
