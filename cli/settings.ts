// `crosstalk settings`: the configuration in effect, as yaml with every default filled in. Of
// this machine's transport from its files, or of another machine's engine (--server, --profile)
// through its API.
import type { ConfigDocument } from "../schema/config.ts";
import type { Problem } from "../schema/errors.ts";
import { formatProblem } from "../schema/errors.ts";
import { VERSION } from "../engine/version.ts";
import { openApi } from "./_client.ts";
import {
  type CliContext,
  Command,
  locationOf,
  namesAnEngine,
  printJson,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** What `settings` shows, the same from the files and from the API. */
interface Settings {
  version: string;
  /** The alias of the engine that answered; null read from the files. */
  alias: string | null;
  root: string;
  settings: ConfigDocument;
  problems: Problem[];
}

/** The `settings` command. */
export function settingsCommand(ctx: CliContext): Command {
  return withJson(withTransportOptions(new Command("settings")))
    .description(
      "the configuration in effect (data/crosstalk.yaml with every default filled in)",
    )
    .action(async (flags: TransportFlags) => {
      const remote = namesAnEngine(ctx);
      const shown = remote
        ? await (await openApi(flags, ctx)).call<Settings>("GET", "/api/settings")
        : await fromFiles(flags, ctx);
      if (flags.json) return printJson(ctx, shown);
      const { stringify } = await import("yaml");
      const engine = shown.alias === null ? "" : `, engine ${shown.alias}`;
      ctx.out(`# ${shown.root} (crosstalk ${shown.version}${engine})\n`);
      for (const problem of shown.problems) ctx.out(`# ${formatProblem(problem)}\n`);
      ctx.out(stringify(shown.settings));
    });
}

async function fromFiles(flags: TransportFlags, ctx: CliContext): Promise<Settings> {
  const { validateTransportConfig } = await import("../engine/setup.ts");
  const { effectiveDocument } = await import("../engine/config.ts");
  const location = locationOf(flags, ctx);
  const config = await validateTransportConfig(location, ctx.env);
  return {
    version: VERSION,
    alias: null,
    root: location.root,
    settings: effectiveDocument(config),
    problems: config.problems,
  };
}
