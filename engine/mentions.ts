/**
 * @mentions: the addressees a message names in its text (`@bob`, `@here`), which fill in `to` when
 * a send leaves it out (docs/API.md, "Mentions"). The text itself is never changed.
 *
 * A mention is `@` at the start of the text or after whitespace, an opening bracket or quote, or
 * markdown emphasis (`**@bob**`), followed by an address as `to` takes one (`bob`,
 * `provider/model`, either with `@alias`): `@sonnet@laptop` is the model sonnet on the machine
 * laptop, as `to: sonnet@laptop` is. After any other character `@` is text (`ann@example.com`).
 * Dots, dashes, underscores, slashes and `@` that end it are punctuation, not part of the name
 * (`@bob.` is bob), so a name that ends in one of them is reached through `to` only. Code spans
 * and fenced code blocks (backticks or tildes) hold no mentions; neither does text after a
 * backslash (`\@bob`). What is not an address (`@a/b/c`, a name over 64 characters, `@bøb`) is
 * text.
 */
import { tryParseAddress } from "../transports/names.ts";

/** What may come right before a mention's `@`, besides whitespace. */
const OPENERS = new Set([
  "(",
  "[",
  "{",
  "<",
  '"',
  "'",
  "\u201c",
  "\u2018",
  "\u00ab",
  "*",
  "_",
  "~",
]);
/** `@`, then what an address is made of; the first character is a name's first. */
const CANDIDATE = /@([A-Za-z0-9][A-Za-z0-9._/@-]*)/g;
/** Punctuation a mention may end with that is not part of it. */
const TRAILING = new Set([".", "_", "/", "@", "-"]);
/** A line that opens a fenced code block (the web UI's rule: any indent, ``` or ~~~). */
const FENCE_OPEN = /^[ \t]*(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^[ \t]*(`{3,}|~{3,})[ \t]*$/;
/** Stands for a character of code: not whitespace, so code right before `@` is no opener. */
const CODE = "\u0000";

/**
 * The addressees a text @mentions, in the order first mentioned, each once. `@here` and `@all`
 * are the addresses `here` and `all`.
 */
export function mentionsOf(text: string): string[] {
  const prose = withoutCode(text);
  const found = new Set<string>();
  for (const match of prose.matchAll(CANDIDATE)) {
    const before = match.index === 0 ? undefined : prose[match.index - 1]!;
    if (before !== undefined && !/\s/u.test(before) && !OPENERS.has(before)) continue;
    // A name does not stop inside a word: `@bøb` is not a mention of "b".
    if (/[\p{L}\p{N}\p{M}]/u.test(prose[match.index + match[0].length] ?? "")) continue;
    const address = withoutTrailing(match[1]!);
    if (address !== "" && tryParseAddress(address)) found.add(address);
  }
  return [...found];
}

/** True when `address` is `provider/model` (as an npm scope such as `@types/node` looks). */
export function namesProvider(address: string): boolean {
  return tryParseAddress(address)?.provider !== undefined;
}

/** `name` without the punctuation it ends with (a loop: a regex would backtrack on long runs). */
function withoutTrailing(name: string): string {
  let end = name.length;
  while (end > 0 && TRAILING.has(name[end - 1]!)) end--;
  return name.slice(0, end);
}

/** The text with every character of code (fenced blocks, inline spans) replaced, lines kept. */
function withoutCode(text: string): string {
  const lines = text.split("\n");
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (fence !== undefined) {
      const close = FENCE_CLOSE.exec(line);
      if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) fence = undefined;
      lines[i] = CODE;
      continue;
    }
    const open = FENCE_OPEN.exec(line);
    // A backtick fence's info string has no backticks (else the line is inline code).
    if (open && !(open[1]![0] === "`" && open[2]!.includes("`"))) {
      fence = open[1]!;
      lines[i] = CODE;
    }
  }
  // Inline code stays within its paragraph: a backtick left open there is text.
  return lines.join("\n").split(/(\n[ \t]*\n)/).map(withoutSpans).join("");
}

/** A paragraph with its code spans replaced: a run of backticks closes at the next of its length. */
function withoutSpans(paragraph: string): string {
  const runs = [...paragraph.matchAll(/`+/g)];
  // Each length's runs in order, and how far the search for a closing one has gone (so a text
  // full of backticks costs one pass, not one per run).
  const byLength = new Map<number, { at: number[]; next: number }>();
  runs.forEach((run, i) => {
    const same = byLength.get(run[0].length) ?? { at: [], next: 0 };
    same.at.push(i);
    byLength.set(run[0].length, same);
  });
  let out = "";
  let done = 0;
  for (let i = 0; i < runs.length; i++) {
    const open = runs[i]!;
    const same = byLength.get(open[0].length)!;
    while (same.next < same.at.length && same.at[same.next]! <= i) same.next++;
    const close = same.at[same.next];
    if (close === undefined) continue;
    const end = runs[close]!.index + runs[close]![0].length;
    out += paragraph.slice(done, open.index) +
      paragraph.slice(open.index, end).replace(/[^\n]/g, CODE);
    done = end;
    i = close;
  }
  return out + paragraph.slice(done);
}
