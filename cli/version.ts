// `crosstalk version`.
import { VERSION } from "../engine/version.ts";
import { PROTOCOL_VERSION } from "../transports/names.ts";
import { type CliContext, Command, printJson, withJson } from "./_context.ts";

/** The `version` command. */
export function versionCommand(ctx: CliContext): Command {
  return withJson(new Command("version"))
    .description("print the version and the protocol version")
    .action((flags: { json?: boolean }) => {
      if (flags.json) return printJson(ctx, { version: VERSION, protocol: PROTOCOL_VERSION });
      ctx.out(`crosstalk ${VERSION} (protocol ${PROTOCOL_VERSION})\n`);
    });
}
