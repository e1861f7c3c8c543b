/**
 * Service units for running the engine at boot or login: systemd units and launchd property
 * lists, rendered by pure functions from explicit options, and the plan of what
 * `crosstalk service install | uninstall` writes and runs. Nothing here touches the disk or
 * starts a process.
 */
import { dirname, join } from "../transports/path.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { DEFAULT_TRANSPORT_NAME, type Env } from "./paths.ts";
import { DENO_RUN_ARGS } from "./which.ts";
import {
  SERVICE_USER,
  type ServiceMode,
  SYSTEM_DIRS,
  systemEnvFile,
  systemLocation,
  systemLogFile,
} from "./system_paths.ts";

/** The service manager a unit is for. */
export type ServiceKind = "systemd" | "launchd";

/** How the service starts crosstalk: a program and the arguments that come before the command. */
export interface EngineProgram {
  /** Absolute path of the executable. */
  execPath: string;
  /** Arguments before crosstalk's own (e.g. `run -A /abs/main.ts` under Deno); none when compiled. */
  args: readonly string[];
}

/** Everything a rendered unit says, all explicit: no defaults are read from the machine. */
export interface UnitOptions {
  mode: ServiceMode;
  /** The transport's name (a system-mode systemd unit is a template and names none). */
  name: string;
  /** The program, absolute. */
  program: EngineProgram;
  /** crosstalk's arguments that run the engine (`serve …`); unused by the systemd template. */
  serveArgs: readonly string[];
  /** The account a system-mode service runs as. */
  user: string;
  paths: UnitPaths;
  /** PATH for the engine and every agent CLI it runs. */
  envPath: string;
  /** The crosstalk version named in the header comment. */
  version: string;
  /** On SIGTERM the engine drains for the config's grace period; the manager waits this long. */
  stopTimeoutSeconds: number;
}

/** The directories and files a unit names. */
export interface UnitPaths {
  /** The service's HOME and working directory (the service user's home in system mode). */
  home: string;
  /** Where the service's standard output and error go (launchd; systemd system mode). */
  log: string;
  /** System mode: the data root, the only place the service may write. */
  data: string;
  /** System mode: the log folder. */
  logs: string;
  /** System mode: the optional environment file (settings and provider secrets). */
  envFile: string;
}

/** The options' defaults that do not depend on the machine. */
export const STOP_TIMEOUT_SECONDS = 45;

/** The launchd label of a transport's service. */
export function launchdLabel(name: string): string {
  return `crosstalk.${name}`;
}

/** The systemd unit file name: the template in system mode, one unit per transport for a user. */
export function systemdUnitName(mode: ServiceMode, name: string): string {
  if (mode === "system") return "crosstalk@.service";
  return name === DEFAULT_TRANSPORT_NAME ? "crosstalk.service" : `crosstalk-${name}.service`;
}

/** The unit systemctl acts on for a transport. */
export function systemdUnitFor(mode: ServiceMode, name: string): string {
  return mode === "system" ? `crosstalk@${name}.service` : systemdUnitName(mode, name);
}

// systemd --------------------------------------------------------------------------------------

/** Renders a systemd unit: a user unit for one transport, or the system `crosstalk@.service`. */
export function renderSystemdUnit(options: UnitOptions): string {
  return options.mode === "system" ? renderSystemTemplate(options) : renderUserUnit(options);
}

function renderUserUnit(o: UnitOptions): string {
  const exec = [o.program.execPath, ...o.program.args, ...o.serveArgs];
  return [
    `# crosstalk ${o.version}: the engine of transport "${o.name}" as a systemd user service.`,
    `# Written by \`crosstalk service install --user\`; \`crosstalk service print\` shows it.`,
    "[Unit]",
    `Description=crosstalk engine (${o.name})`,
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${execLine(exec)}`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    `WorkingDirectory=${systemdWord(o.paths.home)}`,
    `Environment=${systemdWord(`PATH=${o.envPath}`)}`,
    "Environment=CROSSTALK_LOG_JSON=1",
    ...serviceLifecycle(o),
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

function renderSystemTemplate(o: UnitOptions): string {
  const data = escapeSpecifiers(o.paths.data);
  // `%i` is the instance: the transport's name. Everything else is escaped.
  const exec = `${execLine([o.program.execPath, ...o.program.args, "serve", "--path"])} ${
    quoteIfNeeded(`${data}/%i/transport`)
  }`;
  return [
    `# crosstalk ${o.version}: one engine per transport, as user "${o.user}".`,
    `# Enable one with \`systemctl enable --now crosstalk@NAME\` for ${o.paths.data}/NAME/transport.`,
    `# Written by \`crosstalk service install --system\`; \`crosstalk service print\` shows it.`,
    "[Unit]",
    "Description=crosstalk engine (%i)",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `User=${systemdWord(o.user)}`,
    `Group=${systemdWord(o.user)}`,
    `ExecStart=${exec}`,
    "ExecReload=/bin/kill -HUP $MAINPID",
    `WorkingDirectory=${quoteIfNeeded(`${data}/%i`)}`,
    `Environment=${systemdWord(`PATH=${o.envPath}`)}`,
    `Environment=${systemdWord(`HOME=${o.paths.home}`)}`,
    "Environment=CROSSTALK_LOG_JSON=1",
    `EnvironmentFile=-${quoteIfNeeded(`${escapeSpecifiers(dirname(o.paths.envFile))}/%i.env`)}`,
    ...serviceLifecycle(o),
    // The service output goes to a file per transport; the engine's own log stays in its state dir.
    `StandardOutput=append:${escapeSpecifiers(o.paths.logs)}/%i.log`,
    `StandardError=append:${escapeSpecifiers(o.paths.logs)}/%i.log`,
    // systemd makes these and hands them to the service user.
    `StateDirectory=${relativeTo("/var/lib", o.paths.data)}/%i`,
    "StateDirectoryMode=0750",
    `LogsDirectory=${relativeTo("/var/log", o.paths.logs)}`,
    "LogsDirectoryMode=0750",
    `RuntimeDirectory=${relativeTo("/var/lib", o.paths.data)}/%i`,
    "RuntimeDirectoryMode=0700",
    "UMask=0027",
    // Hardening. No MemoryDenyWriteExecute: V8 compiles JavaScript to machine code at run time.
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "RestrictSUIDSGID=yes",
    "RestrictRealtime=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    // Agent CLIs keep their logins in the service user's home, beside the transports.
    `ReadWritePaths=${systemdWord(o.paths.data)}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

function serviceLifecycle(o: UnitOptions): string[] {
  return [
    "Restart=on-failure",
    "RestartSec=2",
    // SIGTERM to the engine only: it drains its agent CLIs itself, then kills their groups.
    "KillMode=mixed",
    `TimeoutStopSec=${o.stopTimeoutSeconds}`,
  ];
}

/** A command line for ExecStart: each word escaped and quoted as systemd reads it. */
function execLine(words: readonly string[]): string {
  return words.map(systemdWord).join(" ");
}

/** One word of a systemd setting: specifiers and variables escaped, quoted when needed. */
export function systemdWord(word: string): string {
  return quoteIfNeeded(escapeSpecifiers(word));
}

function escapeSpecifiers(text: string): string {
  return text.replaceAll("%", "%%").replaceAll("$", "$$$$");
}

function quoteIfNeeded(word: string): string {
  if (word !== "" && !/[\s"'\\;]/.test(word)) return word;
  return `"${word.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** `/var/lib/crosstalk` relative to `/var/lib`, as StateDirectory= wants it. */
function relativeTo(base: string, path: string): string {
  if (!path.startsWith(`${base}/`)) {
    throw new RangeError(`${JSON.stringify(path)} must be inside ${base}`);
  }
  return escapeSpecifiers(path.slice(base.length + 1));
}

// launchd --------------------------------------------------------------------------------------

/** Renders a launchd property list: a LaunchAgent (user mode) or a LaunchDaemon (system mode). */
export function renderLaunchdPlist(o: UnitOptions): string {
  const env: [string, string][] = [["PATH", o.envPath], ["CROSSTALK_LOG_JSON", "1"]];
  if (o.mode === "system") env.push(["HOME", o.paths.home]);
  const entries: string[] = [
    key("Label", str(launchdLabel(o.name))),
    key(
      "ProgramArguments",
      array([o.program.execPath, ...o.program.args, ...o.serveArgs].map(str)),
    ),
    key("EnvironmentVariables", dict(env.map(([k, v]) => key(k, str(v))))),
    key("WorkingDirectory", str(o.paths.home)),
    key("StandardOutPath", str(o.paths.log)),
    key("StandardErrorPath", str(o.paths.log)),
    key("RunAtLoad", "<true/>"),
    // Restarted when it crashes, not after a clean stop.
    key("KeepAlive", dict([key("SuccessfulExit", "<false/>")])),
    key("ThrottleInterval", "<integer>2</integer>"),
    key("ExitTimeOut", `<integer>${o.stopTimeoutSeconds}</integer>`),
    key("ProcessType", str("Background")),
  ];
  if (o.mode === "system") {
    entries.push(
      key("UserName", str(o.user)),
      key("GroupName", str(o.user)),
      key("Umask", "<integer>23</integer>"),
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    `<!-- crosstalk ${xml(o.version)}: the engine of transport "${
      xml(o.name)
    }". Written by crosstalk service install. -->`,
    '<plist version="1.0">',
    dict(entries),
    "</plist>",
    "",
  ].join("\n");
}

function key(name: string, value: string): string {
  return `<key>${xml(name)}</key>\n${value}`;
}

function str(value: string): string {
  return `<string>${xml(value)}</string>`;
}

function array(items: string[]): string {
  return `<array>\n${indent(items.join("\n"))}\n</array>`;
}

function dict(entries: string[]): string {
  return `<dict>\n${indent(entries.join("\n"))}\n</dict>`;
}

function indent(text: string): string {
  return text.split("\n").map((line) => `\t${line}`).join("\n");
}

function xml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

// Hints ----------------------------------------------------------------------------------------

/** A `crosstalk server` verb. */
export type ServerVerb = "start" | "stop" | "restart" | "status" | "logs";

/**
 * The service manager's command for a `crosstalk server` verb on a system-mode transport: in
 * system mode systemd or launchd owns the engine's process, so the CLI points there instead.
 */
export function systemServiceCommand(verb: ServerVerb, kind: ServiceKind, name: string): string {
  if (kind === "systemd") {
    const unit = systemdUnitFor("system", name);
    if (verb === "logs") return `sudo tail -f ${systemLogFile(name)}  # or: journalctl -u ${unit}`;
    return `sudo systemctl ${verb} ${unit}`;
  }
  const target = `system/${launchdLabel(name)}`;
  switch (verb) {
    case "start":
      return `sudo launchctl kickstart ${target}`;
    case "stop":
      return `sudo launchctl kill SIGTERM ${target}`;
    case "restart":
      return `sudo launchctl kickstart -k ${target}`;
    case "status":
      return `sudo launchctl print ${target}`;
    case "logs":
      return `sudo tail -f ${systemLogFile(name)}`;
  }
}

// Plans ----------------------------------------------------------------------------------------

/** What the service command needs to know about this machine, passed in. */
export interface ServiceFacts {
  env: Env;
  /** The program that runs crosstalk here (see {@linkcode engineProgram}). */
  program: EngineProgram;
  /** The effective user id, for `launchctl bootstrap gui/<uid>`. */
  uid: number;
  version: string;
}

/** The service a command asks for. */
export interface ServiceRequest {
  kind: ServiceKind;
  mode: ServiceMode;
  /** The transport's name; the built-in default transport when absent. */
  containername?: string | undefined;
}

/** A unit to write and the commands that start and stop it. */
export interface ServicePlan {
  kind: ServiceKind;
  mode: ServiceMode;
  /** The transport's name. */
  name: string;
  /** Where the unit file goes. */
  file: string;
  /** The unit's text. */
  text: string;
  /** The unit or label the manager knows it by. */
  unit: string;
  /** Run after writing the file: reload, enable, start. */
  start: string[][];
  /** Run before removing the file: stop, disable. */
  stop: string[][];
  /** Run after removing the file. */
  cleanup: string[][];
  /** Folders the service writes to that must exist before it starts (launchd). */
  folders: string[];
}

/**
 * Plans the unit for a transport: its options, text, file and manager commands.
 *
 * @throws {CrosstalkError} `ERR_USAGE` for an invalid name, or a HOME that cannot be found
 */
export function planService(request: ServiceRequest, facts: ServiceFacts): ServicePlan {
  const name = request.containername ?? DEFAULT_TRANSPORT_NAME;
  const system = systemLocation(name);
  const home = facts.env.HOME;
  if (request.mode === "user" && !home) {
    throw new CrosstalkError("ERR_USAGE", "Cannot find the home folder: set HOME");
  }
  const userLog = request.kind === "launchd"
    ? join(home ?? "", "Library", "Logs", "crosstalk", `${name}.log`)
    : "";
  const options: UnitOptions = {
    mode: request.mode,
    name,
    program: facts.program,
    serveArgs: request.mode === "system"
      ? ["serve", "--path", system.root]
      : ["serve", ...(request.containername === undefined ? [] : ["--containername", name])],
    user: SERVICE_USER,
    paths: request.mode === "system"
      ? {
        home: SYSTEM_DIRS.data,
        log: systemLogFile(name),
        data: SYSTEM_DIRS.data,
        logs: SYSTEM_DIRS.logs,
        envFile: systemEnvFile(name),
      }
      : { home: home!, log: userLog, data: "", logs: dirname(userLog), envFile: "" },
    envPath: servicePath(facts.env, facts.program),
    version: facts.version,
    stopTimeoutSeconds: STOP_TIMEOUT_SECONDS,
  };
  if (request.kind === "systemd") {
    const user = request.mode === "user";
    const ctl = user ? ["systemctl", "--user"] : ["systemctl"];
    const unit = systemdUnitFor(request.mode, name);
    const dir = user
      ? join(facts.env.XDG_CONFIG_HOME || join(home!, ".config"), "systemd", "user")
      : "/etc/systemd/system";
    return {
      kind: "systemd",
      mode: request.mode,
      name,
      file: join(dir, systemdUnitName(request.mode, name)),
      text: renderSystemdUnit(options),
      unit,
      start: [[...ctl, "daemon-reload"], [...ctl, "enable", "--now", unit]],
      stop: [[...ctl, "disable", "--now", unit]],
      cleanup: [[...ctl, "daemon-reload"]],
      folders: [],
    };
  }
  const label = launchdLabel(name);
  const domain = request.mode === "system" ? "system" : `gui/${facts.uid}`;
  const dir = request.mode === "system"
    ? "/Library/LaunchDaemons"
    : join(home!, "Library", "LaunchAgents");
  const file = join(dir, `${label}.plist`);
  return {
    kind: "launchd",
    mode: request.mode,
    name,
    file,
    text: renderLaunchdPlist(options),
    unit: label,
    start: [["launchctl", "bootstrap", domain, file]],
    stop: [["launchctl", "bootout", `${domain}/${label}`]],
    cleanup: [],
    folders: request.mode === "system" ? [] : [options.paths.logs],
  };
}

/**
 * The PATH a service gets: the folder of the program first (so `crosstalk` and `deno` are found
 * by agents that call back), then the caller's PATH, then the system's usual folders.
 */
export function servicePath(env: Env, program: EngineProgram): string {
  const parts = [
    dirname(program.execPath),
    ...(env.PATH ?? "").split(":"),
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
    "/usr/sbin",
    "/sbin",
  ];
  return [...new Set(parts.filter((p) => p.startsWith("/")))].join(":");
}

/**
 * The program that runs this crosstalk: the binary itself when compiled, else the Deno binary
 * with `run -A`, crosstalk's V8 flags and the absolute main module (a source checkout or the
 * bundle).
 *
 * @throws {CrosstalkError} `ERR_USAGE` when the main module is not a local file
 */
export function engineProgram(
  facts: { execPath: string; mainModule: string; standalone: boolean },
): EngineProgram {
  if (facts.standalone) return { execPath: facts.execPath, args: [] };
  const url = new URL(facts.mainModule);
  if (url.protocol !== "file:") {
    throw new CrosstalkError(
      "ERR_USAGE",
      `Cannot run the service from ${JSON.stringify(facts.mainModule)}: install crosstalk locally`,
    );
  }
  return { execPath: facts.execPath, args: [...DENO_RUN_ARGS, decodeURIComponent(url.pathname)] };
}

/** The program that runs this very process's crosstalk (see {@linkcode engineProgram}). */
export function currentProgram(): EngineProgram {
  return engineProgram({
    execPath: Deno.execPath(),
    mainModule: Deno.mainModule,
    standalone: Deno.build.standalone,
  });
}

/** Paths the system service cannot see because of its sandbox (ProtectHome, PrivateTmp). */
export function hiddenFromSystemService(program: EngineProgram): string[] {
  const hidden = ["/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"];
  return [program.execPath, ...program.args.filter((a) => a.startsWith("/"))]
    .filter((path) => hidden.some((prefix) => path.startsWith(prefix)));
}
