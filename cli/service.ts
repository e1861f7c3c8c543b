// `crosstalk service print | install | uninstall`: systemd units and launchd property lists.
import { dirname } from "../transports/path.ts";
import {
  currentProgram,
  hiddenFromSystemService,
  planService,
  type ServiceKind,
  type ServicePlan,
} from "../engine/service.ts";
import { currentFacts, detectMode, systemLocation } from "../engine/system_paths.ts";
import { VERSION } from "../engine/version.ts";
import { which } from "../engine/which.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { type CliContext, Command } from "./_context.ts";

/** The options every `service` subcommand takes. */
export interface ServiceFlags {
  user?: boolean;
  system?: boolean;
  containername?: string;
  systemd?: boolean;
  launchd?: boolean;
  force?: boolean;
}

/** The `service` noun. */
export function serviceCommand(ctx: CliContext): Command {
  const service = new Command("service").description(
    "run the engine at boot or login under systemd or launchd",
  );
  withServiceOptions(service.command("print"))
    .description("print the unit (systemd) or property list (launchd) for this machine")
    .action((flags: ServiceFlags) => {
      ctx.out(plan(flags, ctx).text);
    });
  withServiceOptions(service.command("install"))
    .description(
      "write the unit, then enable and start it (refuses to replace one without --force)",
    )
    .option("--force", "replace a unit that is already there")
    .action((flags: ServiceFlags) => install(flags, ctx));
  withServiceOptions(service.command("uninstall"))
    .description("stop and disable the service, then remove its unit")
    .option("--force", "remove the unit even when stopping it fails")
    .action((flags: ServiceFlags) => uninstall(flags, ctx));
  return service;
}

function withServiceOptions(command: Command): Command {
  return command
    .option("--user", "a service of the logged-in user (default unless root)")
    .option("--system", "a machine-wide service run as the crosstalk user (default for root)")
    .option("--containername <name>", "the transport's name (default: the built-in transport)")
    .option("--systemd", "a systemd unit (default on Linux)")
    .option("--launchd", "a launchd property list (default on macOS)");
}

/** The plan for the command's flags on this machine. */
function plan(flags: ServiceFlags, ctx: CliContext): ServicePlan {
  if (flags.systemd && flags.launchd) {
    throw new CrosstalkError("ERR_USAGE", "Use either --systemd or --launchd, not both");
  }
  const kind: ServiceKind = flags.launchd
    ? "launchd"
    : flags.systemd
    ? "systemd"
    : Deno.build.os === "darwin"
    ? "launchd"
    : "systemd";
  const facts = currentFacts(ctx.env);
  const mode = detectMode(flags, facts);
  const program = currentProgram();
  return planService(
    { kind, mode, containername: flags.containername },
    { env: ctx.env, program, uid: facts.uid ?? 0, version: VERSION },
  );
}

async function install(flags: ServiceFlags, ctx: CliContext): Promise<void> {
  const p = plan(flags, ctx);
  await requireTool(p, ctx);
  const replacing = await exists(p.file);
  if (replacing && !flags.force) {
    throw new CrosstalkError(
      "ERR_SERVICE_EXISTS",
      `Cannot install: "${p.file}" already exists (use --force to replace it)`,
    );
  }
  if (p.mode === "system") warnAboutSystemMode(p, ctx);
  if (replacing) await runAll(p.stop, ctx, { tolerant: true });
  try {
    await Deno.mkdir(dirname(p.file), { recursive: true });
    for (const folder of p.folders) await Deno.mkdir(folder, { recursive: true });
    await Deno.writeTextFile(p.file, p.text, { mode: 0o644 });
  } catch (error) {
    throw new CrosstalkError(
      "ERR_SERVICE_FAILED",
      `Cannot write "${p.file}": ${error instanceof Error ? error.message : String(error)}${
        error instanceof Deno.errors.PermissionDenied ? " (system services need root: sudo)" : ""
      }`,
      { cause: error },
    );
  }
  try {
    await runAll(p.start, ctx, { tolerant: false });
  } catch (error) {
    // A new unit that could not be started is taken back, so that a retry needs no --force.
    if (!replacing) await Deno.remove(p.file).catch(() => {});
    throw error;
  }
  ctx.out(`${replacing ? "Replaced" : "Wrote"} ${p.file}\n`);
  ctx.out(`Started ${p.unit}; check it with: ${statusHint(p)}\n`);
}

async function uninstall(flags: ServiceFlags, ctx: CliContext): Promise<void> {
  const p = plan(flags, ctx);
  if (!(await exists(p.file))) {
    ctx.out(`Nothing to uninstall: no ${p.file}\n`);
    return;
  }
  await requireTool(p, ctx);
  await runAll(p.stop, ctx, { tolerant: flags.force === true });
  // The system template serves every transport: it stays while another instance is enabled.
  const others = p.kind === "systemd" && p.mode === "system" ? await enabledInstances(p.unit) : [];
  if (others.length > 0) {
    ctx.out(`Stopped ${p.unit}; kept ${p.file} for ${others.join(", ")}\n`);
    return;
  }
  await Deno.remove(p.file);
  await runAll(p.cleanup, ctx, { tolerant: true });
  ctx.out(`Stopped ${p.unit} and removed ${p.file}\n`);
}

/** Other `crosstalk@*.service` instances enabled at boot. */
async function enabledInstances(except: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir("/etc/systemd/system/multi-user.target.wants")) {
      if (/^crosstalk@.+\.service$/.test(entry.name) && entry.name !== except) {
        found.push(entry.name);
      }
    }
  } catch {
    // No wants folder: nothing enabled.
  }
  return found.sort();
}

function warnAboutSystemMode(p: ServicePlan, ctx: CliContext): void {
  const program = currentProgram();
  for (const path of hiddenFromSystemService(program)) {
    ctx.err(
      `warning: the service cannot see "${path}" (its sandbox hides /home, /root and /tmp): ` +
        `install crosstalk under /usr/local or /opt\n`,
    );
  }
  const root = systemLocation(p.name).root;
  try {
    Deno.statSync(root);
  } catch {
    ctx.err(
      `warning: no transport at ${root} yet; create it with: ` +
        `sudo -u crosstalk crosstalk transport init --path ${root}\n`,
    );
  }
}

async function requireTool(p: ServicePlan, ctx: CliContext): Promise<void> {
  const tool = p.kind === "systemd" ? "systemctl" : "launchctl";
  if (!(await which(tool, ctx.env))) {
    throw new CrosstalkError(
      "ERR_SERVICE_FAILED",
      `Cannot ${p.kind === "systemd" ? "use systemd" : "use launchd"}: "${tool}" is not on PATH` +
        ` (${tool === "launchctl" ? "launchd runs on macOS" : "systemd runs on Linux"};` +
        ` \`crosstalk service print\` shows the unit anyway)`,
    );
  }
}

/** Runs each command; a failure throws unless `tolerant`, when it is only reported. */
async function runAll(
  commands: string[][],
  ctx: CliContext,
  options: { tolerant: boolean },
): Promise<void> {
  for (const argv of commands) {
    const [name, ...args] = argv as [string, ...string[]];
    const program = (await which(name, ctx.env)) ?? name;
    const output = await new Deno.Command(program, {
      args,
      env: definedEnv(ctx.env),
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stderr).trim();
    if (output.code === 0) continue;
    const message = `\`${argv.join(" ")}\` failed (exit ${output.code})${text ? `: ${text}` : ""}`;
    if (!options.tolerant) throw new CrosstalkError("ERR_SERVICE_FAILED", message);
    ctx.err(`warning: ${message}\n`);
  }
}

function statusHint(p: ServicePlan): string {
  if (p.kind === "launchd") {
    return `launchctl print ${p.mode === "system" ? "system" : "gui/$(id -u)"}/${p.unit}`;
  }
  return `systemctl ${p.mode === "user" ? "--user " : ""}status ${p.unit}`;
}

function definedEnv(env: CliContext["env"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
