/**
 * A dotenv parser for provider secrets (`auth/<provider>.env`): `KEY=value` lines, `#` comments,
 * an optional `export ` prefix, single quotes (literal) and double quotes (with `\n`, `\t`, `\"`,
 * `\\` escapes). No variable expansion, so a secret is exactly what is written.
 */
import { InvalidDocumentError, type Problem } from "../schema/errors.ts";

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses dotenv text.
 *
 * @throws {InvalidDocumentError} `ERR_CONFIG_INVALID` naming the line and column of each problem
 */
export function parseDotenv(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: Problem[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trimStart();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const indent = raw.length - trimmed.length;
    const body = trimmed.startsWith("export ") ? trimmed.slice(7).trimStart() : trimmed;
    const offset = indent + (trimmed.length - body.length);
    const eq = body.indexOf("=");
    if (eq < 0) {
      problems.push({ file, line, column: offset + 1, path: "", message: "expected KEY=value" });
      return;
    }
    const key = body.slice(0, eq).trim();
    if (!KEY_RE.test(key)) {
      problems.push({
        file,
        line,
        column: offset + 1,
        path: key,
        message: "is not a valid variable name (letters, digits, _; not starting with a digit)",
      });
      return;
    }
    const rest = body.slice(eq + 1).trimStart();
    const valueColumn = offset + eq + 2 + (body.slice(eq + 1).length - rest.length);
    const quote = rest[0];
    if (quote === '"' || quote === "'") {
      const end = findClosingQuote(rest, quote);
      if (end < 0) {
        problems.push({
          file,
          line,
          column: valueColumn,
          path: key,
          message: `has no closing ${quote}`,
        });
        return;
      }
      const inner = rest.slice(1, end);
      const after = rest.slice(end + 1).trim();
      if (after !== "" && !after.startsWith("#")) {
        problems.push({
          file,
          line,
          column: valueColumn + end + 1,
          path: key,
          message: "has text after the closing quote",
        });
        return;
      }
      out[key] = quote === "'" ? inner : unescape(inner);
      return;
    }
    const comment = rest.search(/\s#/);
    out[key] = (comment < 0 ? rest : rest.slice(0, comment)).trim();
  });
  if (problems.length > 0) {
    throw new InvalidDocumentError("ERR_CONFIG_INVALID", `"${file}"`, problems);
  }
  return out;
}

function findClosingQuote(text: string, quote: string): number {
  for (let i = 1; i < text.length; i++) {
    if (quote === '"' && text[i] === "\\") {
      i++;
      continue;
    }
    if (text[i] === quote) return i;
  }
  return -1;
}

function unescape(text: string): string {
  return text.replace(
    /\\([nrt"\\])/g,
    (_, c: string) => c === "n" ? "\n" : c === "r" ? "\r" : c === "t" ? "\t" : c,
  );
}
