/**
 * `crosstalk agent install | uninstall`: the "crosstalk" MCP server entry in an agent CLI's own
 * configuration (Claude Code's `.mcp.json` or `~/.claude.json`, Codex's `config.toml`, Gemini
 * CLI's and Qwen Code's `settings.json`, opencode's `opencode.json`), and crosstalk's approval hook
 * in Claude Code's `settings.json` (`approval install`, `agent install claude --approvals`). The
 * edits are pure functions from the file's text to its new text that touch nothing but the entry:
 * the rest of the file (other keys, comments, formatting) stays byte for byte.
 * {@linkcode installAgent}, {@linkcode uninstallAgent} and their approval hook counterparts read,
 * edit and write one file. The one module that touches the
 * `smol-toml` package.
 */
import { join, resolve } from "../transports/path.ts";
import { parse as parseToml, TomlError } from "smol-toml";
import { CrosstalkError, formatProblem } from "../schema/errors.ts";
import { readTextFile, writeFileAtomic } from "../transports/mod.ts";
import {
  approvalHook,
  type ApprovalHookOptions,
  isApprovalHook,
  withoutApprovalHooks,
} from "./approval_hook.ts";
import type { Env } from "./paths.ts";
import type { EngineProgram } from "./service.ts";

/** The agent CLIs whose configuration crosstalk can edit. */
export const AGENT_CLIS = ["claude", "codex", "gemini", "qwen", "opencode"] as const;

/** An agent CLI whose configuration crosstalk can edit. */
export type AgentCli = typeof AGENT_CLIS[number];

/** `project`: the configuration of the current folder; `user`: the user's own. */
export type InstallScope = "project" | "user";

/** The key of crosstalk's entry among an agent CLI's MCP servers (`server:crosstalk`). */
export const MCP_SERVER_NAME = "crosstalk";

/** An MCP server entry: the program an agent CLI starts, and its arguments. */
export interface McpServerEntry {
  command: string;
  args: string[];
  /** Codex: variables of the session's environment passed on to the server (see below). */
  env_vars?: string[];
}

/**
 * Codex gives an MCP server only a short list of its own environment variables, and tmux's are
 * not among them: without these, `crosstalk mcp` under Codex cannot see the pane it runs in, and
 * falls back from tmux wakes to pull.
 */
const CODEX_ENV_VARS = ["TMUX", "TMUX_PANE"];

/** Options for {@linkcode mcpServerEntry}. */
export interface McpServerEntryOptions {
  /** The program that runs this crosstalk (see `engineProgram`). */
  program: EngineProgram;
  /** The agent's name on the bus; without it `crosstalk mcp` picks `<cli>-<folder>`. */
  name?: string | undefined;
  /** The model the agent runs, shown to peers (`--model`). */
  model?: string | undefined;
  /** What the agent does (`--role`): shown to peers, and which role-scoped tasks it may claim. */
  role?: string | undefined;
  /** How it is woken (`--wake`); without it `crosstalk mcp` picks one where it runs. */
  wake?: "channel" | "tmux" | "pull" | undefined;
  /** Who may wake it (`--allow`, one comma-separated argument); default everyone known. */
  allow?: readonly string[] | undefined;
  /** The global `--server URL`, passed on. */
  server?: string | undefined;
  /** The global `--profile NAME`, passed on. */
  profile?: string | undefined;
}

/** The entry that starts `crosstalk mcp` for `agent` with this crosstalk. */
export function mcpServerEntry(agent: AgentCli, options: McpServerEntryOptions): McpServerEntry {
  return {
    command: options.program.execPath,
    args: [
      ...options.program.args,
      "mcp",
      "--agent",
      agent,
      ...(options.name === undefined ? [] : ["--name", options.name]),
      ...(options.model === undefined ? [] : ["--model", options.model]),
      ...(options.role === undefined ? [] : ["--role", options.role]),
      ...(options.wake === undefined ? [] : ["--wake", options.wake]),
      ...(options.allow === undefined ? [] : ["--allow", options.allow.join(",")]),
      ...(options.server === undefined ? [] : ["--server", options.server]),
      ...(options.profile === undefined ? [] : ["--profile", options.profile]),
    ],
    ...(agent === "codex" ? { env_vars: [...CODEX_ENV_VARS] } : {}),
  };
}

/**
 * opencode's MCP server entry: the program and its arguments as one `command` array. Its
 * configuration V1 (`mcp.<name>`) has `enabled`; OpenCode 2's own shape (`mcp.servers.<name>`) has
 * `disabled` instead, and a server is on unless it says `disabled: true`.
 */
export interface OpencodeMcpServer {
  type: "local";
  command: string[];
  enabled?: boolean;
}

/** `entry` as opencode writes it: `v1` under `mcp` (with `enabled: true`), `v2` under `mcp.servers`. */
export function opencodeMcpServer(
  entry: McpServerEntry,
  shape: "v1" | "v2" = "v1",
): OpencodeMcpServer {
  return {
    type: "local",
    command: [entry.command, ...entry.args],
    ...(shape === "v1" ? { enabled: true } : {}),
  };
}

/**
 * Where a JSON configuration keeps its MCP servers, and how an entry reads: `mcpServers` with
 * `{command, args}` (Claude Code, Gemini CLI, Qwen Code), or opencode's `mcp` (or OpenCode 2's
 * `mcp.servers`) with {@linkcode OpencodeMcpServer}.
 */
export type McpLayout = "mcpServers" | "opencode";

/** The file an agent CLI keeps its MCP servers in, and how to edit it. */
export interface AgentConfigFile {
  agent: AgentCli;
  scope: InstallScope;
  /** Absolute path. */
  path: string;
  format: "json" | "toml";
  /** JSON with `//` and `/* *\/` comments (Gemini CLI strips them before parsing). */
  comments: boolean;
  /** JSON with a comma allowed after the last member or element (opencode's JSONC). */
  trailingCommas: boolean;
  layout: McpLayout;
  /** The mode of the file when crosstalk creates it. */
  newFileMode: number;
}

/** Options for {@linkcode agentConfigFile}. */
export interface AgentConfigFileOptions {
  /** Default: `project`, except for Codex, which has only a user configuration. */
  scope?: InstallScope | undefined;
  /** HOME, CODEX_HOME and CLAUDE_CONFIG_DIR come from here. */
  env: Env;
  /** The folder a project-scope configuration belongs to. */
  cwd: string;
  /** Whether a file is there (opencode picks among several names); default: a real stat. */
  exists?: (path: string) => boolean;
}

/**
 * Where `agent` keeps its MCP servers. opencode reads several files, all JSONC: the one edited is
 * `opencode.json`, unless only another of the names it reads is there (project:
 * `opencode.jsonc`, `.opencode/opencode.json`, `.opencode/opencode.jsonc`; user:
 * `$XDG_CONFIG_HOME/opencode/opencode.jsonc`), which is then edited instead.
 *
 * @throws {CrosstalkError} `ERR_USAGE` for Codex with the project scope, or without a home folder
 */
export function agentConfigFile(agent: AgentCli, options: AgentConfigFileOptions): AgentConfigFile {
  const scope = options.scope ?? (agent === "codex" ? "user" : "project");
  const home = () => {
    const h = options.env.HOME ?? options.env.USERPROFILE;
    if (!h) throw new CrosstalkError("ERR_USAGE", "Cannot find the home folder: set HOME");
    return resolve(options.cwd, h);
  };
  const file = (path: string, format: "json" | "toml", newFileMode = 0o644): AgentConfigFile => ({
    agent,
    scope,
    path: resolve(options.cwd, path),
    format,
    comments: agent === "gemini" || agent === "qwen" || agent === "opencode",
    trailingCommas: agent === "opencode",
    layout: agent === "opencode" ? "opencode" : "mcpServers",
    newFileMode,
  });
  switch (agent) {
    case "claude": {
      if (scope === "project") return file(join(options.cwd, ".mcp.json"), "json");
      // Claude Code keeps its user settings, login state included, in this file: others may
      // not read it.
      const dir = options.env.CLAUDE_CONFIG_DIR || home();
      return file(join(dir, ".claude.json"), "json", 0o600);
    }
    case "codex": {
      if (scope === "project") {
        throw new CrosstalkError(
          "ERR_USAGE",
          "Codex has only a user configuration ($CODEX_HOME/config.toml, default " +
            "~/.codex/config.toml): drop --scope project",
        );
      }
      const dir = options.env.CODEX_HOME || join(home(), ".codex");
      return file(join(dir, "config.toml"), "toml");
    }
    case "gemini": {
      const dir = scope === "project" ? options.cwd : home();
      return file(join(dir, ".gemini", "settings.json"), "json");
    }
    case "qwen": {
      // Qwen Code, a fork of Gemini CLI, reads `mcpServers` from its own settings files.
      const dir = scope === "project" ? options.cwd : home();
      return file(join(dir, ".qwen", "settings.json"), "json");
    }
    case "opencode": {
      const exists = options.exists ?? fileExists;
      const [dir, names] = scope === "project"
        ? [options.cwd, OPENCODE_PROJECT_FILES]
        : [join(options.env.XDG_CONFIG_HOME || join(home(), ".config"), "opencode"), [
          "opencode.json",
          "opencode.jsonc",
        ]];
      const paths = names.map((name) => resolve(options.cwd, join(dir, name)));
      return file(paths.find(exists) ?? paths[0]!, "json");
    }
  }
}

/** The files of a project opencode reads its configuration from, the one crosstalk prefers first. */
const OPENCODE_PROJECT_FILES = [
  "opencode.json",
  "opencode.jsonc",
  join(".opencode", "opencode.json"),
  join(".opencode", "opencode.jsonc"),
];

/** True unless stat says there is nothing: a file that cannot be read is reported when read. */
function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    return !(error instanceof Deno.errors.NotFound);
  }
}

/**
 * What an edit does: `create` a new file, `add` the entry to a file, `replace` a different entry,
 * leave an identical one `unchanged`; `remove` the entry, or find it `absent`.
 */
export type ConfigEditAction = "create" | "add" | "replace" | "unchanged" | "remove" | "absent";

/** The outcome of an edit. */
export interface ConfigEdit {
  action: ConfigEditAction;
  /** The whole new text; the old one for `unchanged` and `absent` (undefined: still no file). */
  text: string | undefined;
}

/** Options for {@linkcode installMcpServer} and {@linkcode uninstallMcpServer}. */
export interface ConfigEditOptions {
  /** The file's name in error messages. */
  file: string;
  format: "json" | "toml";
  /** JSON only: accept `//` and `/* *\/` comments (and keep them). */
  comments?: boolean;
  /** JSON only: accept a comma after the last member or element (and keep it). */
  trailingCommas?: boolean;
  /** JSON only: where the servers are and how an entry reads (default `mcpServers`). */
  layout?: McpLayout;
  /** Replace a "crosstalk" entry that differs from the new one. */
  force?: boolean;
}

/**
 * Adds the "crosstalk" MCP server `entry` to a configuration's text (undefined: no file yet).
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` when the text does not parse (with line and
 *   column) or the entry cannot be edited as text; `ERR_SERVICE_EXISTS` when a different entry
 *   is there and `force` is not set
 */
export function installMcpServer(
  text: string | undefined,
  entry: McpServerEntry,
  options: ConfigEditOptions,
): ConfigEdit {
  return options.format === "json"
    ? installJson(text, entry, options)
    : installToml(text, entry, options);
}

/**
 * Removes the "crosstalk" MCP server from a configuration's text, and nothing else.
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` when the text does not parse or the entry
 *   cannot be edited as text
 */
export function uninstallMcpServer(
  text: string | undefined,
  options: ConfigEditOptions,
): ConfigEdit {
  return options.format === "json" ? uninstallJson(text, options) : uninstallToml(text, options);
}

/** Options for {@linkcode installAgent} and {@linkcode uninstallAgent}. */
export interface AgentInstallOptions extends AgentConfigFileOptions {
  /** Replace a different "crosstalk" entry. */
  force?: boolean;
  /** Compute the new text, write nothing. */
  dryRun?: boolean;
}

/** What {@linkcode installAgent} or {@linkcode uninstallAgent} did (or would do). */
export interface AgentInstallResult extends ConfigEdit {
  file: AgentConfigFile;
  /** True when the file was written. */
  written: boolean;
}

// ~/.claude.json grows with Claude Code's project history; this only guards against reading a
// file that cannot be a configuration at all.
const MAX_CONFIG_BYTES = 256 * 1024 * 1024;

/**
 * Adds the "crosstalk" MCP server to `agent`'s configuration file, atomically, keeping the mode
 * of an existing file (and writing through a symlink to its target).
 *
 * @throws {CrosstalkError} as {@linkcode agentConfigFile} and {@linkcode installMcpServer};
 *   `ERR_SERVICE_FAILED` when the file cannot be read or written
 */
export async function installAgent(
  agent: AgentCli,
  entry: McpServerEntry,
  options: AgentInstallOptions,
): Promise<AgentInstallResult> {
  const file = agentConfigFile(agent, options);
  const current = await readConfig(file.path);
  const edit = installMcpServer(current?.text, entry, {
    file: file.path,
    format: file.format,
    comments: file.comments,
    trailingCommas: file.trailingCommas,
    layout: file.layout,
    force: options.force ?? false,
  });
  return await apply(file, current, edit, options);
}

/**
 * Removes the "crosstalk" MCP server from `agent`'s configuration file, and nothing else.
 *
 * @throws {CrosstalkError} as {@linkcode agentConfigFile} and {@linkcode uninstallMcpServer};
 *   `ERR_SERVICE_FAILED` when the file cannot be read or written
 */
export async function uninstallAgent(
  agent: AgentCli,
  options: AgentInstallOptions,
): Promise<AgentInstallResult> {
  const file = agentConfigFile(agent, options);
  const current = await readConfig(file.path);
  const edit = uninstallMcpServer(current?.text, {
    file: file.path,
    format: file.format,
    comments: file.comments,
    trailingCommas: file.trailingCommas,
    layout: file.layout,
  });
  return await apply(file, current, edit, options);
}

/** Claude Code's settings file of a scope, where its hooks go. */
export interface ClaudeSettingsFile {
  scope: InstallScope;
  /** Absolute path. */
  path: string;
  /** The mode of the file when crosstalk creates it. */
  newFileMode: number;
}

/** What {@linkcode installApprovalHookFile} or {@linkcode uninstallApprovalHookFile} did. */
export interface ApprovalHookResult extends ConfigEdit {
  file: ClaudeSettingsFile;
  /** True when the file was written. */
  written: boolean;
}

/**
 * Claude Code's settings file of a scope: `project`, `.claude/settings.json` in the folder (beside
 * its `.mcp.json`); `user`, `settings.json` in `$CLAUDE_CONFIG_DIR`, default `~/.claude`. A new
 * one is made 0600: settings may hold environment variables, secrets among them.
 *
 * @throws {CrosstalkError} `ERR_USAGE` for the user scope without a home folder
 */
export function claudeSettingsFile(options: AgentConfigFileOptions): ClaudeSettingsFile {
  const scope = options.scope ?? "project";
  let dir = join(options.cwd, ".claude");
  if (scope === "user") {
    const home = options.env.HOME ?? options.env.USERPROFILE;
    const found = options.env.CLAUDE_CONFIG_DIR || (home && join(home, ".claude"));
    if (!found) throw new CrosstalkError("ERR_USAGE", "Cannot find the home folder: set HOME");
    dir = found;
  }
  return { scope, path: resolve(options.cwd, join(dir, "settings.json")), newFileMode: 0o600 };
}

/**
 * Puts crosstalk's approval hook (`hook`, engine/approval_hook.ts) into Claude Code's settings
 * file of the scope, in place of an earlier one of crosstalk's; the rest of the file stays byte
 * for byte.
 *
 * @throws {CrosstalkError} as {@linkcode claudeSettingsFile} and {@linkcode installApprovalHook};
 *   `ERR_SERVICE_FAILED` when the file cannot be read or written
 */
export async function installApprovalHookFile(
  hook: ApprovalHookOptions,
  options: AgentInstallOptions,
): Promise<ApprovalHookResult> {
  const file = claudeSettingsFile(options);
  const current = await readConfig(file.path);
  return await apply(file, current, installApprovalHook(current?.text, hook, file.path), options);
}

/**
 * Takes crosstalk's approval hook out of Claude Code's settings file of the scope, and nothing
 * else (action `absent` when it has none).
 *
 * @throws {CrosstalkError} as {@linkcode claudeSettingsFile} and
 *   {@linkcode uninstallApprovalHook}; `ERR_SERVICE_FAILED` when the file cannot be read or written
 */
export async function uninstallApprovalHookFile(
  options: AgentInstallOptions,
): Promise<ApprovalHookResult> {
  const file = claudeSettingsFile(options);
  const current = await readConfig(file.path);
  return await apply(file, current, uninstallApprovalHook(current?.text, file.path), options);
}

interface CurrentFile {
  text: string;
  /** The file itself when `path` is a symlink: replacing the link would cut it off. */
  target: string;
  mode: number | null;
}

async function readConfig(path: string): Promise<CurrentFile | undefined> {
  try {
    const target = await Deno.realPath(path);
    const stat = await Deno.stat(target);
    if (!stat.isFile) {
      throw new CrosstalkError("ERR_CONFIG_INVALID", `Cannot edit "${path}": it is not a file`);
    }
    const text = await readTextFile(target, MAX_CONFIG_BYTES, "ERR_CONFIG_INVALID", path);
    return { text, target, mode: stat.mode === null ? null : stat.mode & 0o777 };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    if (error instanceof CrosstalkError) throw error;
    throw new CrosstalkError(
      "ERR_SERVICE_FAILED",
      `Cannot read "${path}": ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

async function apply<F extends { path: string; newFileMode: number }>(
  file: F,
  current: CurrentFile | undefined,
  edit: ConfigEdit,
  options: AgentInstallOptions,
): Promise<ConfigEdit & { file: F; written: boolean }> {
  const unchanged = edit.action === "unchanged" || edit.action === "absent";
  if (unchanged || options.dryRun || edit.text === undefined) {
    return { ...edit, file, written: false };
  }
  const target = current?.target ?? file.path;
  const mode = current?.mode ?? file.newFileMode;
  try {
    await writeFileAtomic(target, edit.text, { mode });
    // The umask narrows the temp file's mode: give an existing file back exactly what it had.
    if (current?.mode != null && Deno.build.os !== "windows") await Deno.chmod(target, mode);
  } catch (error) {
    throw new CrosstalkError(
      "ERR_SERVICE_FAILED",
      `Cannot write "${target}": ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return { ...edit, file, written: true };
}

// ---------------------------------------------------------------------------------------------
// JSON: the file is scanned for the positions of its members, and only the text of the
// "crosstalk" member (or the text where it goes) changes.

interface JsonNode {
  kind: "object" | "array" | "value";
  start: number;
  end: number;
  /** An object's members. */
  members: JsonMember[];
  /** An array's elements. */
  elements: JsonNode[];
}

interface JsonMember {
  key: string;
  keyStart: number;
  valueStart: number;
  valueEnd: number;
  value: JsonNode;
}

/** A scanned JSON document: its top-level value, and its text with comments blanked out. */
interface JsonDocument {
  root: JsonNode;
  /**
   * Same length and line breaks as the text, comments and trailing commas replaced by spaces:
   * `JSON.parse`-able.
   */
  plain: string;
}

const MCP_SERVERS_KEY = "mcpServers";

/** What a new opencode configuration starts with, so that editors check it against the schema. */
const OPENCODE_SCHEMA = "https://opencode.ai/config.json";

function installJson(
  text: string | undefined,
  entry: McpServerEntry,
  options: ConfigEditOptions,
): ConfigEdit {
  if (text === undefined || text.trim() === "") {
    const data = options.layout === "opencode"
      ? { $schema: OPENCODE_SCHEMA, mcp: { [MCP_SERVER_NAME]: opencodeMcpServer(entry) } }
      : { [MCP_SERVERS_KEY]: { [MCP_SERVER_NAME]: entry } };
    return {
      action: text === undefined ? "create" : "add",
      text: `${JSON.stringify(data, null, 2)}\n`,
    };
  }
  const doc = scanJsonFile(text, options);
  const root = rootObject(doc, text, options);
  const path = serversPath(root, text, options);
  const value = options.layout === "opencode"
    ? opencodeMcpServer(entry, path[1] === "servers" ? "v2" : "v1")
    : entry;
  const style = jsonStyle(text, root);
  let next: string | undefined;
  let action: ConfigEditAction = "add";
  // Down the path to the servers; the first object missing on the way is added with the rest.
  let object = root;
  for (let i = 0; i < path.length && next === undefined; i++) {
    const member = uniqueMember(object, path[i]!, text, options);
    if (member === undefined) {
      const inner = path.slice(i + 1).reduceRight<unknown>(
        (nested, key) => ({ [key]: nested }),
        { [MCP_SERVER_NAME]: value },
      );
      next = insertMember(text, object, path[i]!, inner, style);
    } else object = objectAt(member, path.slice(0, i + 1), text, options);
  }
  if (next === undefined) {
    const existing = uniqueMember(object, MCP_SERVER_NAME, text, options);
    if (existing === undefined) {
      next = insertMember(text, object, MCP_SERVER_NAME, value, style);
    } else {
      const current: unknown = JSON.parse(doc.plain.slice(existing.valueStart, existing.valueEnd));
      if (sameData(current, value)) return { action: "unchanged", text };
      if (!options.force) throw differentEntry(options.file, lineColumn(text, existing.keyStart));
      action = "replace";
      const indent = lineIndent(text, existing.keyStart);
      next = text.slice(0, existing.valueStart) + jsonText(value, indent, style) +
        text.slice(existing.valueEnd);
    }
  }
  checkJsonEdit(next, options, doc, (data) => {
    let at = data as Record<string, unknown>;
    for (const key of path) {
      at[key] ??= {};
      at = at[key] as Record<string, unknown>;
    }
    at[MCP_SERVER_NAME] = value;
  });
  return { action, text: next };
}

function uninstallJson(text: string | undefined, options: ConfigEditOptions): ConfigEdit {
  if (text === undefined || text.trim() === "") return { action: "absent", text };
  const doc = scanJsonFile(text, options);
  const root = rootObject(doc, text, options);
  const path = serversPath(root, text, options);
  let object = root;
  for (const key of path) {
    const member = uniqueMember(object, key, text, options);
    if (member === undefined || member.value.kind !== "object") return { action: "absent", text };
    object = member.value;
  }
  const index = object.members.findIndex((m) => m.key === MCP_SERVER_NAME);
  if (index < 0) return { action: "absent", text };
  uniqueMember(object, MCP_SERVER_NAME, text, options);
  const next = removeItem(text, object, index);
  checkJsonEdit(next, options, doc, (data) => {
    let at = data as Record<string, unknown>;
    for (const key of path) at = at[key] as Record<string, unknown>;
    delete at[MCP_SERVER_NAME];
  });
  return { action: "remove", text: next };
}

/**
 * The keys from the root to the object of MCP servers: `mcpServers`; for opencode `mcp`, or
 * `mcp.servers` when the file already has OpenCode 2's list of servers there and crosstalk's
 * entry is not in the V1 place (an entry installed before the list came stays where it is).
 */
function serversPath(root: JsonNode, text: string, options: ConfigEditOptions): string[] {
  if (options.layout !== "opencode") return [MCP_SERVERS_KEY];
  const mcp = uniqueMember(root, "mcp", text, options);
  if (mcp === undefined || mcp.value.kind !== "object") return ["mcp"];
  if (uniqueMember(mcp.value, MCP_SERVER_NAME, text, options) !== undefined) return ["mcp"];
  const servers = uniqueMember(mcp.value, "servers", text, options);
  return servers !== undefined && isServerList(servers.value) ? ["mcp", "servers"] : ["mcp"];
}

/**
 * opencode's own reading of `mcp.servers`: a list of servers, unless it is a V1 server that
 * happens to be named "servers" (its `type` or `enabled` is not an object).
 */
function isServerList(node: JsonNode): boolean {
  return node.kind === "object" &&
    !node.members.some((m) =>
      (m.key === "type" || m.key === "enabled") && m.value.kind !== "object"
    );
}

function scanJsonFile(text: string, options: ConfigEditOptions): JsonDocument {
  try {
    return scanJson(text, options);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new CrosstalkError(
      "ERR_CONFIG_INVALID",
      `Cannot edit ${
        formatProblem({ file: options.file, ...error.position, path: "", message: error.message })
      } (fix the file first; nothing was changed)`,
      { cause: error },
    );
  }
}

function rootObject(doc: JsonDocument, text: string, options: ConfigEditOptions): JsonNode {
  if (doc.root.kind === "object") return doc.root;
  throw invalidAt(options.file, lineColumn(text, doc.root.start), "the file is not a JSON object");
}

/** The object `member` holds; `path` names it in the error when it holds something else. */
function objectAt(
  member: JsonMember,
  path: string[],
  text: string,
  options: ConfigEditOptions,
): JsonNode {
  if (member.value.kind === "object") return member.value;
  throw invalidAt(
    options.file,
    lineColumn(text, member.valueStart),
    `"${path.join(".")}" is not an object`,
  );
}

/** The member named `key`; a key given twice is refused, since tools disagree on which counts. */
function uniqueMember(
  object: JsonNode,
  key: string,
  text: string,
  options: ConfigEditOptions,
): JsonMember | undefined {
  const found = object.members.filter((m) => m.key === key);
  if (found.length > 1) {
    throw invalidAt(
      options.file,
      lineColumn(text, found[1]!.keyStart),
      `"${key}" is given more than once (remove all but one)`,
    );
  }
  return found[0];
}

interface JsonStyle {
  /** One level of indentation. */
  unit: string;
  eol: string;
}

function jsonStyle(text: string, root: JsonNode): JsonStyle {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  // One level is what the first top-level member is indented by, when it starts a line.
  const first = root.members[0];
  const indent = first !== undefined && startsLine(text, first.keyStart)
    ? lineIndent(text, first.keyStart)
    : "";
  return { unit: indent === "" ? "  " : indent, eol };
}

/** Adds `"key": value` as the last member of `object`, indented like its other members. */
function insertMember(
  text: string,
  object: JsonNode,
  key: string,
  value: unknown,
  style: JsonStyle,
): string {
  return insertItem(
    text,
    object,
    (indent) => `${JSON.stringify(key)}: ${jsonText(value, indent, style)}`,
    style,
  );
}

/** The text spans of an object's members (from the key) or of an array's elements. */
function itemsOf(node: JsonNode): { start: number; end: number }[] {
  return node.kind === "object"
    ? node.members.map((m) => ({ start: m.keyStart, end: m.valueEnd }))
    : node.elements.map((e) => ({ start: e.start, end: e.end }));
}

/**
 * Adds an item (`item` gives its text for its indentation) as the last of `node`, an object or an
 * array, indented like its other items.
 */
function insertItem(
  text: string,
  node: JsonNode,
  item: (indent: string) => string,
  style: JsonStyle,
): string {
  const base = lineIndent(text, node.start);
  const items = itemsOf(node);
  const first = items[0];
  const last = items.at(-1);
  const indent = first !== undefined && startsLine(text, first.start)
    ? lineIndent(text, first.start)
    : base + style.unit;
  if (last === undefined) {
    return `${text.slice(0, node.start + 1)}${style.eol}${indent}${
      item(indent)
    }${style.eol}${base}${text.slice(node.end - 1)}`;
  }
  return `${text.slice(0, last.end)},${style.eol}${indent}${item(indent)}${text.slice(last.end)}`;
}

/**
 * `node` (an object or an array) without its item at `index`: what {@linkcode insertItem} added
 * goes exactly, the comma before it too.
 */
function removeItem(text: string, node: JsonNode, index: number): string {
  const items = itemsOf(node);
  const item = items[index]!;
  if (items.length === 1) return text.slice(0, node.start + 1) + text.slice(node.end - 1);
  // The first of several: up to the next one, which takes its place.
  if (index === 0) return text.slice(0, item.start) + text.slice(items[1]!.start);
  // From the end of the item before (its comma goes too) to the end of this one.
  return text.slice(0, items[index - 1]!.end) + text.slice(item.end);
}

/** `value` as indented JSON whose continuation lines start at `indent`. */
function jsonText(value: unknown, indent: string, style: JsonStyle): string {
  return JSON.stringify(value, null, style.unit).split("\n").join(style.eol + indent);
}

/** Parses the edited text and checks it says what the old one said, changed only by `change`. */
function checkJsonEdit(
  next: string,
  options: ConfigEditOptions,
  before: JsonDocument,
  change: (data: unknown) => void,
): void {
  const expected: unknown = JSON.parse(before.plain);
  change(expected);
  const after = scanJson(next, options);
  if (!sameData(JSON.parse(after.plain), expected)) {
    throw new Error(`The edit of "${options.file}" changed more than the crosstalk entry`);
  }
}

// ---------------------------------------------------------------------------------------------
// Claude Code's settings.json: crosstalk's group in `hooks.PreToolUse` (engine/approval_hook.ts),
// edited as text like the MCP server entry. Strict JSON, as Claude Code reads it.

/**
 * Claude Code's settings (their text; undefined when there is no file) with crosstalk's approval
 * hook as the last `PreToolUse` group, an earlier one of crosstalk's taken out; every other
 * setting and hook stays byte for byte.
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` when the text does not parse (with line and
 *   column), is not an object, or its `hooks` is not an object or `hooks.PreToolUse` not an array
 */
export function installApprovalHook(
  text: string | undefined,
  hook: ApprovalHookOptions,
  file: string,
): ConfigEdit {
  const group = approvalHook(hook);
  if (text === undefined || text.trim() === "") {
    return {
      action: text === undefined ? "create" : "add",
      text: `${JSON.stringify({ hooks: { PreToolUse: [group] } }, null, 2)}\n`,
    };
  }
  const options = { file, format: "json" } as const;
  const before = scanJsonFile(text, options);
  const without = uninstallApprovalHook(text, file);
  let next = without.text!;
  const root = rootObject(scanJsonFile(next, options), next, options);
  const style = jsonStyle(next, root);
  const hooks = uniqueMember(root, "hooks", next, options);
  if (hooks === undefined) {
    next = insertMember(next, root, "hooks", { PreToolUse: [group] }, style);
  } else {
    const object = objectAt(hooks, ["hooks"], next, options);
    const pre = uniqueMember(object, "PreToolUse", next, options);
    if (pre === undefined) next = insertMember(next, object, "PreToolUse", [group], style);
    else {
      if (pre.value.kind !== "array") {
        throw invalidAt(
          file,
          lineColumn(next, pre.valueStart),
          `"hooks.PreToolUse" is not an array`,
        );
      }
      next = insertItem(next, pre.value, (indent) => jsonText(group, indent, style), style);
    }
  }
  if (next === text) return { action: "unchanged", text };
  checkJsonEdit(next, options, before, (data) => {
    const settings = data as { hooks?: { PreToolUse?: unknown[] } };
    settings.hooks ??= {};
    settings.hooks.PreToolUse = [...withoutApprovalHooks(settings.hooks.PreToolUse ?? []), group];
  });
  return { action: without.action === "remove" ? "replace" : "add", text: next };
}

/**
 * Claude Code's settings without crosstalk's approval hook, and otherwise byte for byte: a group
 * left with no hook goes, and so do a `PreToolUse` and a `hooks` left empty.
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` when the text does not parse or is not an object
 */
export function uninstallApprovalHook(text: string | undefined, file: string): ConfigEdit {
  if (text === undefined || text.trim() === "") return { action: "absent", text };
  const options = { file, format: "json" } as const;
  const before = scanJsonFile(text, options);
  rootObject(before, text, options);
  let next = text;
  // One hook at a time, each time from a new scan: the positions of the last one are gone.
  for (let edited = removeOneApprovalHook(next, options); edited !== undefined;) {
    next = edited;
    edited = removeOneApprovalHook(next, options);
  }
  if (next === text) return { action: "absent", text };
  checkJsonEdit(next, options, before, (data) => {
    const settings = data as { hooks?: { PreToolUse?: unknown[] } };
    const hooks = settings.hooks!;
    const kept = withoutApprovalHooks(hooks.PreToolUse!);
    if (kept.length > 0) hooks.PreToolUse = kept;
    else delete hooks.PreToolUse;
    if (Object.keys(hooks).length === 0) delete settings.hooks;
  });
  return { action: "remove", text: next };
}

/** The text without the first of crosstalk's hooks; undefined when it has none. */
function removeOneApprovalHook(text: string, options: ConfigEditOptions): string | undefined {
  const doc = scanJsonFile(text, options);
  const root = doc.root;
  const hooks = uniqueMember(root, "hooks", text, options);
  if (hooks?.value.kind !== "object") return undefined;
  const pre = uniqueMember(hooks.value, "PreToolUse", text, options);
  if (pre?.value.kind !== "array") return undefined;
  const groups = pre.value.elements;
  for (const [g, group] of groups.entries()) {
    if (group.kind !== "object") continue;
    const list = uniqueMember(group, "hooks", text, options)?.value;
    if (list?.kind !== "array") continue;
    const h = list.elements.findIndex((e) =>
      isApprovalHook(JSON.parse(doc.plain.slice(e.start, e.end)))
    );
    if (h < 0) continue;
    // The smallest thing that goes: the hook, or what would be left empty without it.
    if (list.elements.length > 1) return removeItem(text, list, h);
    if (groups.length > 1) return removeItem(text, pre.value, g);
    if (hooks.value.members.length > 1) {
      return removeItem(text, hooks.value, hooks.value.members.indexOf(pre));
    }
    return removeItem(text, root, root.members.indexOf(hooks));
  }
  return undefined;
}

/** Unparseable JSON, at a position. */
/**
 * The value of JSON text that may hold `//` and `/* *\/` comments, as Gemini CLI's and Qwen
 * Code's settings files may.
 *
 * @throws {SyntaxError} naming the line and column of the first problem
 */
export function parseJsonWithComments(text: string): unknown {
  try {
    return JSON.parse(scanJson(text, { comments: true }).plain);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    const { line, column } = error.position;
    throw new SyntaxError(`${error.message} at line ${line}, column ${column}`);
  }
}

class JsonSyntaxError extends SyntaxError {
  readonly position: { line: number; column: number };

  constructor(message: string, position: { line: number; column: number }) {
    super(message);
    this.name = "JsonSyntaxError";
    this.position = position;
  }
}

/**
 * Scans strict JSON (RFC 8259), with comments and trailing commas when the options allow them,
 * keeping the positions of object members.
 *
 * @throws {JsonSyntaxError} with the line and column of the first problem
 */
function scanJson(
  text: string,
  options: Pick<ConfigEditOptions, "comments" | "trailingCommas">,
): JsonDocument {
  const comments = options.comments ?? false;
  let pos = 0;
  /** Comments and trailing commas: blanked out in the plain text. */
  const blanks: [number, number][] = [];
  const fail = (message: string, at = pos): never => {
    throw new JsonSyntaxError(message, lineColumn(text, at));
  };
  const what = (at: number) =>
    at >= text.length ? "the end of the file" : `${JSON.stringify(text[at])}`;
  const space = () => {
    while (pos < text.length) {
      const c = text[pos]!;
      if (c === " " || c === "\t" || c === "\n" || c === "\r") pos++;
      else if (comments && c === "/" && text[pos + 1] === "/") {
        const end = text.indexOf("\n", pos);
        const stop = end < 0 ? text.length : end;
        blanks.push([pos, stop]);
        pos = stop;
      } else if (comments && c === "/" && text[pos + 1] === "*") {
        const end = text.indexOf("*/", pos + 2);
        if (end < 0) fail("Unterminated /* comment");
        blanks.push([pos, end + 2]);
        pos = end + 2;
      } else break;
    }
  };
  const string = (): number => {
    const start = pos++;
    while (true) {
      if (pos >= text.length) fail("Unterminated string", start);
      const c = text.charCodeAt(pos);
      if (c === 0x22) return ++pos;
      if (c < 0x20) fail("Control character in a string (escape it)");
      if (c === 0x5c) {
        const e = text[pos + 1];
        if (e === "u") {
          if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(pos + 2, pos + 6))) {
            fail("Invalid \\u escape: expected four hex digits");
          }
          pos += 6;
        } else if (e !== undefined && `"\\/bfnrt`.includes(e)) pos += 2;
        else fail(`Invalid escape \\${e ?? ""} in a string`);
      } else pos++;
    }
  };
  /** Just after a comma: true when `close` follows, the comma being a trailing one. */
  const trailing = (close: string): boolean => {
    if (!options.trailingCommas) return false;
    const comma = pos - 1;
    space();
    if (text[pos] !== close) return false;
    blanks.push([comma, comma + 1]);
    return true;
  };
  const value = (depth: number): JsonNode => {
    if (depth > 512) fail("Nested too deeply");
    const start = pos;
    const c = text[pos];
    if (c === "{") {
      pos++;
      const members: JsonMember[] = [];
      space();
      if (text[pos] === "}") return { kind: "object", start, end: ++pos, members, elements: [] };
      while (true) {
        space();
        if (text[pos] !== '"') fail(`Expected a property name in double quotes, not ${what(pos)}`);
        const keyStart = pos;
        const keyEnd = string();
        const raw = text.slice(keyStart + 1, keyEnd - 1);
        const key = raw.includes("\\") ? JSON.parse(`"${raw}"`) as string : raw;
        space();
        if (text[pos] !== ":") fail(`Expected ":" after a property name, not ${what(pos)}`);
        pos++;
        space();
        const valueStart = pos;
        const node = value(depth + 1);
        members.push({ key, keyStart, valueStart, valueEnd: pos, value: node });
        space();
        if (text[pos] === ",") {
          pos++;
          if (trailing("}")) return { kind: "object", start, end: ++pos, members, elements: [] };
        } else if (text[pos] === "}") {
          return { kind: "object", start, end: ++pos, members, elements: [] };
        } else fail(`Expected "," or "}" after a property value, not ${what(pos)}`);
      }
    }
    if (c === "[") {
      pos++;
      const elements: JsonNode[] = [];
      space();
      if (text[pos] === "]") return { kind: "array", start, end: ++pos, members: [], elements };
      while (true) {
        space();
        elements.push(value(depth + 1));
        space();
        if (text[pos] === ",") {
          pos++;
          if (trailing("]")) return { kind: "array", start, end: ++pos, members: [], elements };
        } else if (text[pos] === "]") {
          return { kind: "array", start, end: ++pos, members: [], elements };
        } else fail(`Expected "," or "]" after an array element, not ${what(pos)}`);
      }
    }
    if (c === '"') {
      string();
      return { kind: "value", start, end: pos, members: [], elements: [] };
    }
    const token = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
    token.lastIndex = pos;
    const match = token.exec(text);
    if (!match) fail(`Expected a JSON value, not ${what(pos)}`);
    pos += match![0].length;
    return { kind: "value", start, end: pos, members: [], elements: [] };
  };
  space();
  const root = value(0);
  space();
  if (pos < text.length) fail(`Unexpected ${what(pos)} after the JSON value`);
  let plain = text;
  if (blanks.length > 0) {
    // A trailing comma is found after the comments that follow it.
    blanks.sort((a, b) => a[0] - b[0]);
    const parts: string[] = [];
    let at = 0;
    for (const [from, to] of blanks) {
      parts.push(text.slice(at, from), text.slice(from, to).replace(/[^\n\r]/g, " "));
      at = to;
    }
    parts.push(text.slice(at));
    plain = parts.join("");
  }
  return { root, plain };
}

// ---------------------------------------------------------------------------------------------
// TOML: Codex's config.toml. The "crosstalk" entry is the [mcp_servers.crosstalk] table and its
// sub-tables; they are cut out as lines and a new table is appended. The parser checks the input
// and, after the edit, that nothing but the entry changed.

function installToml(
  text: string | undefined,
  entry: McpServerEntry,
  options: ConfigEditOptions,
): ConfigEdit {
  const before = text ?? "";
  const data = parseTomlFile(before, options.file);
  const existing = serversTable(data)?.[MCP_SERVER_NAME];
  if (existing !== undefined) {
    if (sameData(existing, entry)) return { action: "unchanged", text: before };
    if (!options.force) throw differentEntry(options.file, undefined);
  }
  const { eol, lines } = tomlLines(before);
  const kept = removeCrosstalkTables(lines);
  checkTomlEdit(kept.join(""), data, options.file);
  let head = kept.join("");
  if (head !== "" && !head.endsWith("\n")) head += eol;
  if (head.trim() !== "" && !/(?:^|\n)[ \t]*\r?\n$/.test(head)) head += eol;
  const table = [
    `[mcp_servers.${MCP_SERVER_NAME}]`,
    `command = ${tomlString(entry.command)}`,
    `args = [${entry.args.map(tomlString).join(", ")}]`,
    ...(entry.env_vars ? [`env_vars = [${entry.env_vars.map(tomlString).join(", ")}]`] : []),
    "",
  ].join(eol);
  const next = head + table;
  checkTomlEdit(next, data, options.file, entry);
  return {
    action: text === undefined ? "create" : existing === undefined ? "add" : "replace",
    text: next,
  };
}

function uninstallToml(text: string | undefined, options: ConfigEditOptions): ConfigEdit {
  if (text === undefined) return { action: "absent", text };
  const data = parseTomlFile(text, options.file);
  if (serversTable(data)?.[MCP_SERVER_NAME] === undefined) return { action: "absent", text };
  const next = removeCrosstalkTables(tomlLines(text).lines).join("");
  checkTomlEdit(next, data, options.file);
  return { action: "remove", text: next };
}

function parseTomlFile(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    throw new CrosstalkError(
      "ERR_CONFIG_INVALID",
      `Cannot edit ${
        formatProblem({
          file,
          line: error.line,
          column: error.column,
          path: "",
          message: tomlReason(error),
        })
      } (fix the file first; nothing was changed)`,
      { cause: error },
    );
  }
}

/** The parser's reason without its code excerpt: `Invalid TOML document: <reason>`. */
function tomlReason(error: TomlError): string {
  const reason = error.message.split("\n")[0]!.replace(/^Invalid TOML document:\s*/, "");
  return reason.charAt(0).toUpperCase() + reason.slice(1);
}

function serversTable(data: Record<string, unknown>): Record<string, unknown> | undefined {
  const servers = data.mcp_servers;
  return typeof servers === "object" && servers !== null && !Array.isArray(servers) &&
      !(servers instanceof Date)
    ? servers as Record<string, unknown>
    : undefined;
}

/**
 * Checks that `next` parses and says what `data` said without the crosstalk entry, or with
 * `entry` in its place.
 *
 * @throws {CrosstalkError} `ERR_CONFIG_INVALID` when the entry is not written as tables (inline,
 *   dotted keys) or mcp_servers is not a table, so a table cannot be cut out or added
 */
function checkTomlEdit(
  next: string,
  data: Record<string, unknown>,
  file: string,
  entry?: McpServerEntry,
): void {
  const table = serversTable(data);
  let expected = data;
  if (table !== undefined || entry !== undefined) {
    const servers: Record<string, unknown> = { ...table };
    delete servers[MCP_SERVER_NAME];
    if (entry !== undefined) servers[MCP_SERVER_NAME] = entry;
    expected = { ...data, mcp_servers: servers };
  }
  let result: Record<string, unknown> | undefined;
  try {
    result = parseToml(next) as Record<string, unknown>;
  } catch {
    result = undefined;
  }
  if (
    result === undefined || !sameData(withoutEmptyServers(result), withoutEmptyServers(expected))
  ) {
    throw new CrosstalkError(
      "ERR_CONFIG_INVALID",
      `Cannot edit "${file}": crosstalk changes only a [mcp_servers.${MCP_SERVER_NAME}] table ` +
        `(not one written inline or as dotted keys, nor one inside an inline mcp_servers); ` +
        `edit the file by hand (nothing was changed)`,
    );
  }
}

/** An empty mcp_servers table says what no mcp_servers says: a file emptied of its only entry. */
function withoutEmptyServers(data: Record<string, unknown>): Record<string, unknown> {
  const servers = serversTable(data);
  if (servers === undefined || Object.keys(servers).length > 0) return data;
  const { mcp_servers: _, ...rest } = data;
  return rest;
}

type TomlLineKind = "header" | "content" | "comment" | "blank";

interface TomlLine {
  text: string;
  kind: TomlLineKind;
  /** The header's dotted key. */
  key?: string[];
}

/** The file as lines (with their line breaks), each classified; multi-line values are content. */
function tomlLines(text: string): { eol: string; lines: TomlLine[] } {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  const raw = text === "" ? [] : text.split(/(?<=\n)/);
  const lines: TomlLine[] = [];
  let multi: string | undefined; // the closing quotes of a multi-line string that is open
  let depth = 0; // open [ and { of a value that spans lines
  for (const line of raw) {
    const trimmed = line.trim();
    if (multi === undefined && depth === 0) {
      if (trimmed === "") {
        lines.push({ text: line, kind: "blank" });
        continue;
      }
      if (trimmed.startsWith("#")) {
        lines.push({ text: line, kind: "comment" });
        continue;
      }
      if (trimmed.startsWith("[")) {
        lines.push({ text: line, kind: "header", key: headerKey(trimmed) });
        continue;
      }
    }
    lines.push({ text: line, kind: "content" });
    ({ multi, depth } = scanTomlLine(line, multi, depth));
  }
  return { eol, lines };
}

/** Follows strings, comments and brackets through one line of a value. */
function scanTomlLine(
  line: string,
  open: string | undefined,
  depth: number,
): { multi: string | undefined; depth: number } {
  let multi = open;
  let i = 0;
  while (i < line.length) {
    if (multi !== undefined) {
      if (multi === '"""' && line[i] === "\\") i += 2;
      else if (line.startsWith(multi, i)) {
        i += 3;
        while (line[i] === multi[0]) i++;
        multi = undefined;
      } else i++;
      continue;
    }
    const c = line[i]!;
    if (c === "#") break;
    if (line.startsWith('"""', i) || line.startsWith("'''", i)) {
      multi = line.slice(i, i + 3);
      i += 3;
    } else if (c === '"' || c === "'") {
      i++;
      while (i < line.length && line[i] !== c && line[i] !== "\n") {
        i += c === '"' && line[i] === "\\" ? 2 : 1;
      }
      i++;
    } else {
      if (c === "[" || c === "{") depth++;
      else if (c === "]" || c === "}") depth = Math.max(0, depth - 1);
      i++;
    }
  }
  return { multi, depth };
}

/** The dotted key of a `[table]` or `[[array]]` header line; empty when it cannot be read. */
function headerKey(trimmed: string): string[] {
  const key: string[] = [];
  let i = trimmed.startsWith("[[") ? 2 : 1;
  while (i < trimmed.length) {
    while (trimmed[i] === " " || trimmed[i] === "\t") i++;
    const c = trimmed[i];
    if (c === '"') {
      const match = /^"(?:[^"\\]|\\.)*"/.exec(trimmed.slice(i));
      if (!match) return [];
      try {
        key.push(JSON.parse(match[0]) as string);
      } catch {
        return [];
      }
      i += match[0].length;
    } else if (c === "'") {
      const end = trimmed.indexOf("'", i + 1);
      if (end < 0) return [];
      key.push(trimmed.slice(i + 1, end));
      i = end + 1;
    } else {
      const match = /^[A-Za-z0-9_-]+/.exec(trimmed.slice(i));
      if (!match) return [];
      key.push(match[0]);
      i += match[0].length;
    }
    while (trimmed[i] === " " || trimmed[i] === "\t") i++;
    if (trimmed[i] === ".") i++;
    else return trimmed[i] === "]" ? key : [];
  }
  return [];
}

/**
 * The lines without the [mcp_servers.crosstalk] table and its sub-tables. Comment and blank lines
 * at the end of a removed table stay when another table follows: they usually introduce it.
 */
function removeCrosstalkTables(lines: TomlLine[]): string[] {
  const ours = (line: TomlLine | undefined) =>
    line?.key?.[0] === "mcp_servers" && line.key[1] === MCP_SERVER_NAME;
  const drop = new Set<number>();
  for (let i = 0; i < lines.length; i++) {
    if (!ours(lines[i])) continue;
    let end = i + 1;
    while (end < lines.length && lines[end]!.kind !== "header") end++;
    let last = i;
    for (let j = i + 1; j < end; j++) if (lines[j]!.kind === "content") last = j;
    // Up to a sub-table of ours, everything goes.
    if (ours(lines[end])) last = end - 1;
    for (let j = i; j <= last; j++) drop.add(j);
    // Keep one blank line between what came before and what follows, not two.
    let kept = i - 1;
    while (drop.has(kept)) kept--;
    const blankBefore = kept < 0 || lines[kept]!.kind === "blank";
    if (blankBefore && lines[last + 1]?.kind === "blank") drop.add(last + 1);
    // At the end of the file, the blank lines that set the table apart go too (as install adds
    // one), so that install then uninstall gives back the file as it was.
    if (last === lines.length - 1) {
      for (; kept >= 0 && lines[kept]!.kind === "blank"; kept--) drop.add(kept);
    }
    i = last;
  }
  return lines.filter((_, i) => !drop.has(i)).map((l) => l.text);
}

/** A TOML basic string (JSON's escapes are TOML's, but for DEL). */
function tomlString(value: string): string {
  return JSON.stringify(value).replace(/\x7f/g, "\\u007F");
}

// ---------------------------------------------------------------------------------------------
// Shared.

function differentEntry(file: string, at: { line: number; column: number } | undefined): Error {
  const where = at === undefined ? "" : ` ${at.line}:${at.column}`;
  return new CrosstalkError(
    "ERR_SERVICE_EXISTS",
    `Cannot install: "${file}"${where} already has a different "${MCP_SERVER_NAME}" MCP server ` +
      `(install with --force to replace it)`,
  );
}

function invalidAt(file: string, at: { line: number; column: number }, message: string): Error {
  return new CrosstalkError(
    "ERR_CONFIG_INVALID",
    `Cannot edit ${formatProblem({ file, ...at, path: "", message })} (nothing was changed)`,
  );
}

/** 1-based line and column of `offset`. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}

/** The whitespace that starts the line holding `offset`. */
function lineIndent(text: string, offset: number): string {
  const start = text.lastIndexOf("\n", offset - 1) + 1;
  return /^[ \t]*/.exec(text.slice(start, offset))![0];
}

/** True when only whitespace comes before `offset` on its line. */
function startsLine(text: string, offset: number): boolean {
  const start = text.lastIndexOf("\n", offset - 1) + 1;
  return text.slice(start, offset).trim() === "";
}

/** Deep equality of parsed data (JSON or TOML: plain or null-prototype objects, dates, NaN). */
function sameData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.constructor === b.constructor &&
      a.toISOString() === b.toISOString();
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const rb = b as Record<string, unknown>;
  const ra = a as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(rb, k) && sameData(ra[k], rb[k]));
}
