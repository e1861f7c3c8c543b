// A fast path for the frontmatter crosstalk itself writes: `key: value` lines, flow lists of
// plain words, and block lists (`- word` items, all at one indentation). Anything else (quotes, nesting, anchors, comments, a value YAML
// would read as a number, a boolean or null) returns undefined, and the full YAML parser runs.
// Parsing with the `yaml` package is most of the cost of reading a message.

const KEY = /^([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?$/;
const WORD = /^[A-Za-z0-9_][A-Za-z0-9_.:/@+-]*$/;
// What the YAML 1.2 core schema reads as something other than a string.
const SPECIAL =
  /^(?:[-+]?(?:\d+|\d*\.\d+|\d+\.\d*)(?:[eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+|true|True|TRUE|false|False|FALSE|null|Null|NULL|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

function word(value: string): string | undefined {
  return WORD.test(value) && !SPECIAL.test(value) && !value.endsWith(":") ? value : undefined;
}

/** The frontmatter as plain data when it is in the simple shape; undefined otherwise. */
export function fastFrontmatter(text: string): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const match = KEY.exec(lines[i]!);
    if (!match) return undefined;
    const key = match[1]!;
    if (Object.hasOwn(out, key) || key === "__proto__") return undefined;
    const value = match[2];
    if (value === undefined) {
      // A block list: `key:` then `- word` lines.
      const items: string[] = [];
      const indent = /^ */.exec(lines[i + 1] ?? "")![0];
      while (i + 1 < lines.length && lines[i + 1]!.startsWith(`${indent}- `)) {
        const item = word(lines[++i]!.slice(indent.length + 2));
        if (item === undefined) return undefined;
        items.push(item);
      }
      if (items.length === 0) return undefined;
      Object.defineProperty(out, key, {
        value: items,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      continue;
    }
    let parsed: unknown;
    if (value.startsWith("[") && value.endsWith("]")) {
      const items = value.slice(1, -1).split(",").map((s) => s.trim());
      if (items.some((s) => word(s) === undefined)) return undefined;
      parsed = items;
    } else {
      parsed = word(value);
      if (parsed === undefined) return undefined;
    }
    Object.defineProperty(out, key, {
      value: parsed,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
