// `crosstalk config validate`: the engine's load pipeline, stopping before anything starts.
import { formatProblem } from "../schema/errors.ts";
import {
  type CliContext,
  Command,
  locationOf,
  printJson,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The `config` noun. */
export function configCommand(ctx: CliContext): Command {
  const config = new Command("config").description("check data/crosstalk.yaml");
  withJson(withTransportOptions(config.command("validate")))
    .description(
      "run exactly the engine's config pipeline and stop; exit 1 if a provider is broken",
    )
    .action(async (flags: TransportFlags) => {
      const { validateTransportConfig } = await import("../engine/setup.ts");
      const loaded = await validateTransportConfig(locationOf(flags, ctx), ctx.env);
      const errors = loaded.problems.filter((p) => p.severity === "error");
      if (flags.json) {
        printJson(ctx, {
          ok: errors.length === 0,
          transport: loaded.transport,
          engine: loaded.engine,
          limits: loaded.limits,
          providers: [...loaded.providers.values()].map((p) => ({
            name: p.name,
            env_file: p.envFile ?? null,
            models: [...p.models.values()].map((m) => ({ name: m.name, command: m.command })),
          })),
          problems: loaded.problems,
        });
      } else {
        for (const p of loaded.problems) {
          const skipped = p.severity === "error" ? ` (provider "${p.provider}" skipped)` : "";
          ctx.err(`${p.severity}: ${formatProblem(p)}${skipped}\n`);
        }
        const models = [...loaded.providers.values()].reduce((n, p) => n + p.models.size, 0);
        const verdict = errors.length === 0 ? "ok" : "invalid";
        ctx.out(
          `${verdict}: data/crosstalk.yaml (transport: ${loaded.transport}, ${loaded.providers.size} providers, ${models} models, ${errors.length} errors)\n`,
        );
      }
      if (errors.length > 0) ctx.exitCode = 1;
    });
  return config;
}
