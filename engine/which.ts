/**
 * Finding agent CLIs: PATH lookup, and `crosstalk` itself (the built-in echo agent and any
 * `crosstalk …` model run this very program, whether compiled, bundled or from source).
 */
import { delimiter, isAbsolute, join, resolve } from "../transports/path.ts";
import { fileURLToPath } from "node:url";
import type { Env } from "./paths.ts";
import { writeFileAtomic } from "../transports/_fs.ts";

/** Where a model's CLI was found, or why not. */
export type Resolved = { found: true; argv: string[] } | { found: false; reason: string };

/**
 * The V8 flags every crosstalk process runs with, as Deno takes them: a young generation with
 * room for 16 MiB from the start, where V8 by default starts it small and grows it under load.
 * With 30 live agents sending at once it took the engine's woken p99 from a median of 56.5 ms to
 * 49.9 ms, and made the first bursts after a start slower (docs/BENCHMARKS.md, "2026-12-07,
 * night"). A compiled binary has them built in (scripts/compile.ts); from source, `deno task
 * serve`, {@linkcode selfCommand} and `engineProgram` (engine/service.ts: service units, agent
 * install entries) pass them.
 */
export const V8_FLAGS = "--v8-flags=--min-semi-space-size=16";

/** `deno` runs crosstalk from source (or the bundle) with these, then the main module. */
export const DENO_RUN_ARGS: readonly string[] = ["run", "-A", V8_FLAGS];

/**
 * The command line that runs this program: the binary, or `deno` with {@linkcode DENO_RUN_ARGS}
 * and the main module from source.
 */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  // A compiled binary is the program itself, whatever its file is called.
  if (Deno.build.standalone) return [exe];
  const main = Deno.mainModule.startsWith("file:") ? fileURLToPath(Deno.mainModule) : undefined;
  return main ? [exe, ...DENO_RUN_ARGS, "--quiet", main] : [exe];
}

/**
 * Resolves a model's command line to what will be spawned. `crosstalk` is this program; a word
 * with a slash is a path (relative ones against `root`, the transport); anything else is
 * looked up on PATH.
 */
export async function resolveCommand(argv: string[], root: string, env: Env): Promise<Resolved> {
  const [cli, ...rest] = argv;
  if (cli === undefined) return { found: false, reason: "the command line is empty" };
  if (cli === "crosstalk") return { found: true, argv: [...selfCommand(), ...rest] };
  if (cli.includes("/") || cli.includes("\\")) {
    const path = isAbsolute(cli) ? cli : resolve(root, cli);
    return await isExecutable(path)
      ? { found: true, argv: [path, ...rest] }
      : { found: false, reason: `"${path}" is not an executable file` };
  }
  const found = await which(cli, env);
  return found
    ? { found: true, argv: [found, ...rest] }
    : { found: false, reason: `"${cli}" is not on PATH` };
}

/** The first executable named `name` on `env.PATH`. */
export async function which(name: string, env: Env): Promise<string | undefined> {
  const dirs = (env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  const exts = Deno.build.os === "windows" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of dirs) {
    for (const ext of exts) {
      const path = join(dir, name + ext);
      if (await isExecutable(path)) return path;
    }
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) return false;
    if (Deno.build.os === "windows") return true;
    return ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Writes `<stateDir>/bin/crosstalk`, a script that runs this very program, and returns its
 * folder: on the PATH of the agent CLIs the engine runs, `crosstalk …` (as the transport's
 * PROTOCOL.md tells agents to call it) works whether or not crosstalk is installed. Undefined on
 * Windows, where agents find crosstalk on their PATH or not at all.
 */
export async function writeSelfShim(stateDir: string): Promise<string | undefined> {
  if (Deno.build.os === "windows") return undefined;
  const dir = join(stateDir, "bin");
  await Deno.mkdir(dir, { recursive: true });
  const argv = selfCommand().map(shellWord).join(" ");
  await writeFileAtomic(
    join(dir, "crosstalk"),
    `#!/bin/sh\n# Written by the crosstalk engine: the crosstalk that runs it.\nexec ${argv} "$@"\n`,
    { mode: 0o755 },
  );
  return dir;
}

/**
 * One word for sh, as a person would type it: as it is when it holds only characters sh leaves
 * alone, else single-quoted (a single quote in it closed, escaped and reopened).
 */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
