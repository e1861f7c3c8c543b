// `crosstalk version`.
import { COMMIT } from "../engine/build_info.ts";
import { VERSION } from "../engine/version.ts";
import { PROTOCOL_VERSION } from "../transports/names.ts";
import { type CliContext, Command, printJson, withJson } from "./_context.ts";

/** The `version` command. */
export function versionCommand(ctx: CliContext): Command {
  return withJson(new Command("version"))
    .description("print the version, the git commit of the build and the protocol version")
    .action((flags: { json?: boolean }) => {
      if (flags.json) {
        return printJson(ctx, { version: VERSION, commit: COMMIT, protocol: PROTOCOL_VERSION });
      }
      ctx.out(`crosstalk ${VERSION} (commit ${COMMIT}, protocol ${PROTOCOL_VERSION})\n`);
    });
}
