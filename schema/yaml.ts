/**
 * The one module that touches the `yaml` package: parse with source positions, stringify.
 */
import { isMap, isPair, isScalar, LineCounter, parseDocument, stringify } from "yaml";
import { type ErrorCode, InvalidDocumentError, type Problem } from "./errors.ts";

/** A parsed YAML document that can say where any of its values came from. */
export interface YamlDocument {
  /** The document as plain JSON-like data. */
  value: unknown;
  /** 1-based line and column of the value (or, with `key`, the key) at `path`. */
  positionOf(path: readonly (string | number)[], key?: boolean): { line: number; column: number };
}

/** Options for {@linkcode parseYaml}. */
export interface ParseYamlOptions {
  /** The file name used in error messages. */
  file: string;
  /** The error code thrown for unparseable text. */
  code: ErrorCode;
  /** What the document is, for the error head (`"data/crosstalk.yaml"`). */
  what?: string;
  /** Added to every reported line (frontmatter starts after the `---` line). */
  lineOffset?: number;
}

/**
 * Parses one YAML document, keeping positions.
 *
 * @throws {InvalidDocumentError} `options.code` when the text is not valid YAML
 */
export function parseYaml(text: string, options: ParseYamlOptions): YamlDocument {
  const lineOffset = options.lineOffset ?? 0;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
    schema: "core",
  });
  const problems: Problem[] = [...doc.errors, ...doc.warnings].map((error) => {
    const pos = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
    return {
      file: options.file,
      line: pos.line + lineOffset,
      column: pos.col,
      path: pathAt(doc.contents, error.pos[0]).join("."),
      message: firstLine(error.message),
    };
  });
  if (problems.length > 0) {
    throw new InvalidDocumentError(options.code, options.what ?? `"${options.file}"`, problems);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new InvalidDocumentError(options.code, options.what ?? `"${options.file}"`, [{
      file: options.file,
      line: 0,
      column: 0,
      path: "",
      message: error instanceof Error ? firstLine(error.message) : String(error),
    }]);
  }
  return {
    value,
    positionOf(path, key = false) {
      let node: unknown = doc.contents;
      let keyNode: unknown;
      for (const segment of path) {
        if (!isMap(node) && !(node && typeof node === "object" && "items" in node)) break;
        const collection = node as { items: unknown[] };
        let next: unknown;
        if (isMap(node)) {
          const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
          keyNode = pair?.key;
          next = pair?.value;
        } else if (typeof segment === "number") {
          next = collection.items[segment];
          keyNode = next;
        }
        if (next === undefined || next === null) {
          node = key ? keyNode : node;
          break;
        }
        node = next;
      }
      const target = (key ? keyNode ?? node : node) as { range?: [number, number, number] };
      const offset = target?.range?.[0] ?? 0;
      const pos = lineCounter.linePos(offset);
      return { line: pos.line + lineOffset, column: pos.col };
    },
  };
}

/** Renders a value as YAML in crosstalk's house style (block style, plain scalars when safe). */
export function stringifyYaml(value: unknown): string {
  return stringifyFlatMap(value) ?? stringifyYamlGeneral(value);
}

/** {@linkcode stringifyYaml} through the `yaml` package, for any value. */
export function stringifyYamlGeneral(value: unknown): string {
  return stringify(value, { lineWidth: 0, defaultKeyType: "PLAIN" });
}

/** A key or string value that YAML reads back as that same string, unquoted. */
const PLAIN = /^[A-Za-z_][A-Za-z0-9_./@-]*$/;
/** Plain words some YAML readers take for something else: left to the `yaml` package. */
const KEYWORD = /^(true|false|null|yes|no|on|off|y|n)$/i;
/** Two plain shapes that start with a digit and are never numbers: times and message ids. */
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const MESSAGE_ID = /^\d{4}\/\d{2}\/\d{2}\/\d{9}Z-[0-9a-f]{8}\.md$/;

function plain(text: string): boolean {
  return (PLAIN.test(text) && !KEYWORD.test(text)) || TIME.test(text) || MESSAGE_ID.test(text);
}

/**
 * The fast path of {@linkcode stringifyYaml} for what a message's frontmatter nearly always is: a
 * flat map of plain strings, lists of them, and booleans. Gives exactly the `yaml` package's text
 * (a property test holds it to that), or undefined for anything else.
 */
export function stringifyFlatMap(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  if (Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  let out = "";
  for (const [key, item] of Object.entries(value)) {
    if (!PLAIN.test(key) || KEYWORD.test(key)) return undefined;
    if (typeof item === "boolean") out += `${key}: ${item}\n`;
    else if (typeof item === "string" && plain(item)) out += `${key}: ${item}\n`;
    else if (Array.isArray(item) && item.length > 0) {
      out += `${key}:\n`;
      for (const entry of item) {
        if (typeof entry !== "string" || !plain(entry)) return undefined;
        out += `  - ${entry}\n`;
      }
    } else return undefined;
  }
  return out === "" ? undefined : out;
}

/** The keys leading to the deepest node whose source range holds `offset`. */
function pathAt(node: unknown, offset: number, depth = 0): (string | number)[] {
  if (depth > 64 || !node || typeof node !== "object" || !("items" in node)) return [];
  const items = (node as { items: unknown[] }).items;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (isPair(item)) {
      const key = item.key as { range?: number[]; value?: unknown } | null;
      const value = item.value as { range?: number[] } | null;
      const start = key?.range?.[0] ?? value?.range?.[0] ?? -1;
      const end = value?.range?.[2] ?? key?.range?.[2] ?? -1;
      if (offset >= start && offset < end) {
        const name = isScalar(key) ? String(key.value) : String(i);
        return [name, ...pathAt(item.value, offset, depth + 1)];
      }
    } else {
      const range = (item as { range?: number[] } | null)?.range;
      if (range && offset >= range[0]! && offset < range[2]!) {
        return [i, ...pathAt(item, offset, depth + 1)];
      }
    }
  }
  return [];
}

function firstLine(text: string): string {
  return (text.split("\n")[0] ?? text).replace(/\s+at line \d+, column \d+:?$/, "").trim();
}
