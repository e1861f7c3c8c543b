/**
 * Builds release binaries with `deno compile` for every supported target into `dist/`.
 * Needs Deno's `denort` runtime download, so it runs on release machines, not in our CI
 * (which proves the program is self-contained with `deno task bundle` instead). The binaries
 * carry crosstalk's V8 flags (engine/which.ts), as `deno run` from source does.
 *
 * Run: `deno task compile [target…]`.
 */
import { BUILD_INFO, headCommit, withStamp } from "./gen_version.ts";
import { V8_FLAGS } from "../engine/which.ts";

const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/** The `deno` arguments that build the binary for `target` into `output`. */
export function compileArgs(target: string, output: string): string[] {
  return ["compile", "-A", V8_FLAGS, "--target", target, "--output", output, "main.ts"];
}

async function main(targets: string[]): Promise<number> {
  for (const target of targets) {
    if (!TARGETS.includes(target)) {
      console.error(
        `error: unknown target ${JSON.stringify(target)} (known: ${TARGETS.join(", ")})`,
      );
      return 64;
    }
  }
  // The binaries report the commit they were built from (engine/build_info.ts, restored after).
  const root = new URL("..", import.meta.url).pathname;
  return await withStamp(BUILD_INFO, await headCommit(root), async () => {
    for (const target of targets) {
      const output = `dist/crosstalk-${target}${target.includes("windows") ? ".exe" : ""}`;
      const { code } = await new Deno.Command(Deno.execPath(), {
        args: compileArgs(target, output),
        stdout: "inherit",
        stderr: "inherit",
      }).output();
      if (code !== 0) {
        console.error(`error: deno compile for ${target} failed (exit ${code})`);
        return code;
      }
      console.log(`built ${output}`);
    }
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args.length > 0 ? Deno.args : TARGETS));
