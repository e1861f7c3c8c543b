/**
 * File path helpers with node:path's behaviour, without loading node:path: importing it boots
 * Deno's Node compatibility layer, about 7 ms of every CLI command's start (docs/BENCHMARKS.md).
 * POSIX rules are written out here (tests/transports/path_test.ts holds them to node:path.posix
 * on random paths); on Windows, node:path itself is used, loaded only there.
 *
 * @module
 */

type NodePath = typeof import("node:path");

const windows: NodePath | undefined = Deno.build.os === "windows"
  ? await import("node:path")
  : undefined;

/** The path separator of this platform. */
export const SEPARATOR: string = windows?.sep ?? "/";

/** The separator of entries in `PATH`. */
export const delimiter: string = windows?.delimiter ?? ":";

/** Whether `path` starts at the root. */
export function isAbsolute(path: string): boolean {
  return windows ? windows.isAbsolute(path) : path.startsWith("/");
}

/** What {@linkcode normalize} changes: a repeated separator, or a `.` or `..` part. */
const NOT_NORMAL = /\/\/|(?:^|\/)\.\.?(?:\/|$)/;

/** `path` with `.` and `..` resolved and repeated separators collapsed (`.` when empty). */
export function normalize(path: string): string {
  if (windows) return windows.normalize(path);
  if (path === "") return ".";
  // Most paths are normal already (a join of names): as they are, without splitting them (the
  // engine joins paths for every message it writes, reads and marks).
  if (!NOT_NORMAL.test(path)) return path;
  const absolute = path.startsWith("/");
  const trailing = path.endsWith("/");
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out.at(-1) !== "..") out.pop();
      else if (!absolute) out.push("..");
    } else {
      out.push(part);
    }
  }
  let joined = out.join("/");
  if (joined === "" && !absolute) joined = ".";
  if (trailing && joined !== "") joined += "/";
  return absolute ? `/${joined}` : joined;
}

/** The parts joined with the separator, then normalized. */
export function join(...parts: string[]): string {
  if (windows) return windows.join(...parts);
  const kept = parts.filter((p) => p !== "");
  return kept.length === 0 ? "." : normalize(kept.join("/"));
}

/** An absolute path: the parts resolved from the right, then against the working directory. */
export function resolve(...parts: string[]): string {
  if (windows) return windows.resolve(...parts);
  let path = "";
  for (let i = parts.length - 1; i >= 0 && !path.startsWith("/"); i--) {
    const part = parts[i]!;
    if (part !== "") path = path === "" ? part : `${part}/${path}`;
  }
  if (!path.startsWith("/")) path = path === "" ? Deno.cwd() : `${Deno.cwd()}/${path}`;
  const normal = normalize(path);
  return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
}

/** The folder part of `path`. */
export function dirname(path: string): string {
  if (windows) return windows.dirname(path);
  if (path === "") return ".";
  // node:path's rule: cut at the last separator that follows a part, keeping any run before it.
  const rooted = path.startsWith("/");
  let end = -1;
  let inPart = false;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] !== "/") inPart = true;
    else if (inPart) {
      end = i;
      break;
    }
  }
  if (end === -1) return rooted ? "/" : ".";
  if (rooted && end === 1) return "//";
  return path.slice(0, end);
}

/** The last part of `path` (trailing separators ignored). */
export function basename(path: string): string {
  if (windows) return windows.basename(path);
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}

/** The path from `from` to `to` (both resolved first); "" when they are the same. */
export function relative(from: string, to: string): string {
  if (windows) return windows.relative(from, to);
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...a.slice(common).map(() => ".."), ...b.slice(common)].join("/");
}
