// Property tests of the message and CHANNEL.md wire formats: what is written reads back the same.
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Channel, formatChannelFile, parseChannelFile } from "../../transports/channel.ts";
import { formatMessage, type MessageFields, parseMessage } from "../../transports/message.ts";
import { formatAddress, formatMessageId } from "../../transports/names.ts";
import { LocalTransport, scaffoldTransport } from "../../transports/mod.ts";
import { tempDir } from "../_helpers.ts";

const SEED = 20261122;
const KNOWN_KEYS = ["from", "to", "exclude", "timestamp", "re", "as", "type", "failed", "error"];

/** Well-formed Unicode text of any code point (lone surrogates cannot reach a UTF-8 file). */
const unicodeArb = (maxLength = 40) =>
  fc.string({ unit: "binary", maxLength }).filter((s) => s.isWellFormed());

/** Strings a YAML writer must quote, and characters a frontmatter reader treats specially. */
const TRICKY_STRINGS = [
  "",
  " ",
  "---",
  "...",
  "- x",
  "? x",
  ": x",
  "#x",
  "a: b",
  "a #b",
  "&a",
  "*a",
  "!!str",
  "|",
  ">",
  "null",
  "~",
  "true",
  "False",
  "1",
  "-0",
  "0x1F",
  "0o17",
  "1e5",
  ".inf",
  "2026-11-22",
  "2026-11-22T03:15:22.123Z",
  "\t",
  "\n",
  "a\n---\nb",
  "a\r\nb",
  " lead",
  "trail ",
  "a\n\n",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ufffd",
  "\u007f",
  "\u0000",
  "\u001b[31m",
  "日本語",
  "😀",
];

const textArb = fc.oneof(
  { arbitrary: unicodeArb(), weight: 3 },
  { arbitrary: fc.constantFrom(...TRICKY_STRINGS), weight: 2 },
  {
    arbitrary: fc.array(fc.oneof(unicodeArb(8), fc.constantFrom(...TRICKY_STRINGS)), {
      maxLength: 5,
    }).map((parts) => parts.join("")),
    weight: 2,
  },
);

const nameArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  fc.constantFrom("all", "workflow", "null", "true", "No", "1", "0x1F", "1e5", "012", "1.5"),
);

const addressArb = fc.record(
  { provider: nameArb, name: nameArb, alias: nameArb },
  { requiredKeys: ["name"], noNullPrototype: true },
).map(formatAddress);

const timeArb = fc.date({
  min: new Date(Date.UTC(1000, 0, 1)),
  max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)),
  noInvalidDate: true,
});

const messageIdArb = fc.record({ time: timeArb, random: fc.stringMatching(/^[0-9a-f]{8}$/) })
  .map(formatMessageId);

/** JSON-like values (plain objects only, as a YAML reader returns them). */
const { json: jsonArb } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    textArb,
    fc.array(tie("json"), { maxLength: 4 }),
    fc.dictionary(textArb, tie("json"), { maxKeys: 4, noNullPrototype: true }),
  ),
}));

const extraKeyArb = fc.oneof(
  textArb,
  fc.constantFrom("child_channel", "dispatch_host", "workflow_phase", "idempotency_key"),
).filter((k) => !KNOWN_KEYS.includes(k));

const extraArb = fc.dictionary(extraKeyArb, jsonArb, { maxKeys: 5, noNullPrototype: true });

/** Markdown bodies: any text, with '---' lines, blank lines, CRLF and trailing whitespace. */
const bodyArb = fc.tuple(
  fc.constantFrom("", "\n", "\n\n", "\r\n", "  \n", "\t"),
  fc.array(
    fc.oneof(
      unicodeArb(60),
      fc.constantFrom("---", "--- ", "...", "", "  ", "# heading", "```", "---\r", "\r"),
    ),
    { maxLength: 8 },
  ),
  fc.constantFrom("", "\n", "\n\n", "  ", " \t\n"),
).map(([lead, lines, trail]) => lead + lines.join("\n") + trail);

const fieldsArb: fc.Arbitrary<MessageFields> = fc.record({
  from: addressArb,
  to: fc.array(addressArb, { minLength: 1, maxLength: 4 }),
  exclude: fc.array(addressArb, { maxLength: 3 }),
  timestamp: timeArb.map((t) => t.toISOString()),
  re: fc.array(messageIdArb, { maxLength: 3 }),
  as: nameArb,
  type: fc.constant("workflow" as const),
  failed: fc.boolean(),
  error: textArb,
  extra: extraArb,
  body: bodyArb,
}, { requiredKeys: ["from", "to", "timestamp", "body"], noNullPrototype: true });

/**
 * What parseMessage(formatMessage(m)) gives back. The normalizations are exactly these:
 * the body loses trailing whitespace (`trimEnd()`), an empty `re` or `exclude` list and an
 * empty `extra` map are not written, so they read back as absent.
 */
function expectedRoundTrip(fields: MessageFields): MessageFields {
  const expected: MessageFields = { ...fields, body: fields.body.trimEnd() };
  if (expected.re?.length === 0) delete expected.re;
  if (expected.exclude?.length === 0) delete expected.exclude;
  if (expected.extra && Object.keys(expected.extra).length === 0) delete expected.extra;
  return expected;
}

Deno.test("parseMessage round-trips every valid message written by formatMessage", () => {
  fc.assert(
    fc.property(fieldsArb, (fields) => {
      const text = formatMessage(fields);
      assert.deepStrictEqual(parseMessage(text, { file: "m.md" }), expectedRoundTrip(fields));
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

Deno.test("parseMessage round-trips messages with only the required fields and any body", () => {
  const minimalArb = fc.record({
    from: addressArb,
    to: fc.array(addressArb, { minLength: 1, maxLength: 3 }),
    timestamp: timeArb.map((t) => t.toISOString()),
    body: bodyArb,
  }, { noNullPrototype: true });
  fc.assert(
    fc.property(minimalArb, (fields) => {
      const text = formatMessage(fields);
      assert.ok(text.startsWith("---\n"));
      assert.ok(text.endsWith("\n"));
      assert.deepStrictEqual(parseMessage(text, { file: "m.md" }), expectedRoundTrip(fields));
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

Deno.test("formatMessage is a fixed point after one round trip", () => {
  fc.assert(
    fc.property(fieldsArb, (fields) => {
      const text = formatMessage(fields);
      let again: string;
      try {
        again = formatMessage(parseMessage(text, { file: "m.md" }));
      } catch {
        return; // a document that does not read back is the round-trip test's failure
      }
      assert.equal(again, text);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

// Each of these is a minimal counterexample the round-trip property shrinks to; they are kept as
// examples so each bug has a test of its own.
const BASE: MessageFields = {
  from: "a",
  to: ["b"],
  timestamp: "2026-11-22T03:15:22.123Z",
  body: "x",
};

Deno.test("parseMessage reads back an error text that contains U+FFFD or U+007F", () => {
  for (const error of ["\ufffd", "output: caf\ufffd", "\u007f"]) {
    const fields = { ...BASE, failed: true, error };
    assert.deepStrictEqual(parseMessage(formatMessage(fields), { file: "m.md" }), fields);
  }
});

Deno.test("parseMessage does not end the frontmatter at a '---' after U+2028 inside a value", () => {
  for (const error of ["a\u2028---\u2028b", "a\u2029---", "\u2028---"]) {
    const fields = { ...BASE, failed: true, error };
    assert.deepStrictEqual(parseMessage(formatMessage(fields), { file: "m.md" }), fields);
  }
});

Deno.test("formatMessage keeps extra keys named like Object.prototype members", () => {
  for (const key of ["constructor", "toString", "hasOwnProperty", "valueOf", "__proto__"]) {
    const extra: Record<string, unknown> = {};
    Object.defineProperty(extra, key, { value: "kept", enumerable: true, writable: true });
    const fields = { ...BASE, extra };
    assert.deepStrictEqual(
      parseMessage(formatMessage(fields), { file: "m.md" }),
      fields,
      `extra key ${JSON.stringify(key)}`,
    );
  }
});

Deno.test("parseMessage reads exclude as a list written after to, and names a malformed one", () => {
  const fields = { ...BASE, to: ["all"], exclude: ["bob", "test/echo@laptop"] };
  const text = formatMessage(fields);
  assert.match(
    text,
    /^---\nfrom: a\nto: all\nexclude:\n {2}- bob\n {2}- test\/echo@laptop\ntimestamp:/,
  );
  assert.deepStrictEqual(parseMessage(text, { file: "m.md" }), fields);
  const one =
    "---\nfrom: a\nto: all\nexclude: bob\ntimestamp: 2026-11-22T03:15:22.123Z\n---\n\nx\n";
  assert.deepStrictEqual(parseMessage(one, { file: "m.md" }).exclude, ["bob"]);
  for (
    const bad of ["exclude: []", "exclude: 'no spaces allowed'", "exclude: {a: 1}", "exclude: 3"]
  ) {
    const text = `---\nfrom: a\nto: all\n${bad}\ntimestamp: 2026-11-22T03:15:22.123Z\n---\n\nx\n`;
    assert.throws(
      () => parseMessage(text, { file: "m.md" }),
      /m\.md.*4:\d+.*exclude must be an address or a non-empty list of addresses/s,
      bad,
    );
  }
});

const channelNameArb = textArb.filter((s) => s.trim() !== "");

const channelArb: fc.Arbitrary<Channel> = fc.record({
  id: fc.uuid().map((u) => u.toLowerCase()),
  name: channelNameArb,
  parent: fc.uuid().map((u) => u.toLowerCase()),
  created: timeArb.map((t) => t.toISOString()),
  extra: fc.dictionary(
    textArb.filter((k) => !["name", "parent", "created"].includes(k)),
    jsonArb,
    { maxKeys: 4, noNullPrototype: true },
  ),
}, { requiredKeys: ["id", "name"], noNullPrototype: true });

/** An empty `extra` map is not written, so it reads back as absent; nothing else changes. */
function expectedChannel(channel: Channel): Channel {
  const expected = { ...channel };
  if (expected.extra && Object.keys(expected.extra).length === 0) delete expected.extra;
  return expected;
}

Deno.test("parseChannelFile round-trips every channel written by formatChannelFile", () => {
  fc.assert(
    fc.property(channelArb, (channel) => {
      const text = formatChannelFile(channel);
      assert.deepStrictEqual(
        parseChannelFile(channel.id, text, "CHANNEL.md"),
        expectedChannel(channel),
      );
    }),
    { seed: SEED, numRuns: 1500 },
  );
});

Deno.test("parseChannelFile reads a body after the frontmatter and ignores it", () => {
  fc.assert(
    fc.property(channelArb, bodyArb, (channel, body) => {
      const text = `${formatChannelFile(channel)}\n${body}`;
      assert.deepStrictEqual(
        parseChannelFile(channel.id, text, "CHANNEL.md"),
        expectedChannel(channel),
      );
    }),
    { seed: SEED, numRuns: 500 },
  );
});

Deno.test("formatChannelFile keeps extra keys named like Object.prototype members", () => {
  for (const key of ["constructor", "toString", "__proto__"]) {
    const extra: Record<string, unknown> = {};
    Object.defineProperty(extra, key, { value: "kept", enumerable: true, writable: true });
    const channel: Channel = { id: "0b7c5a52-3f1e-4c55-9a86-1d2e3f405162", name: "n", extra };
    assert.deepStrictEqual(
      parseChannelFile(channel.id, formatChannelFile(channel), "CHANNEL.md"),
      channel,
      `extra key ${JSON.stringify(key)}`,
    );
  }
});

Deno.test("parseChannelFile does not end the frontmatter at a '---' after U+2028 inside the name", () => {
  for (const name of ["a\u2028---\u2028b", "a\u2029---"]) {
    const channel: Channel = { id: "0b7c5a52-3f1e-4c55-9a86-1d2e3f405162", name };
    assert.deepStrictEqual(
      parseChannelFile(channel.id, formatChannelFile(channel), "CHANNEL.md"),
      channel,
    );
  }
});

Deno.test("LocalTransport.writeMessage returns exactly the message a reader parses from its file", async () => {
  // An engine hands its own sends to its feed without reading them back: both must agree.
  await using dir = await tempDir();
  await scaffoldTransport(dir.path, { kind: "local" });
  const transport = new LocalTransport(dir.path, { sync: false });
  const channel = await transport.createChannel({ name: "props" });
  await fc.assert(
    fc.asyncProperty(fieldsArb, async (fields) => {
      const written = await transport.writeMessage(channel.id, fields);
      assert.deepStrictEqual(written, await transport.readMessage(channel.id, written.id));
    }),
    { seed: SEED, numRuns: 300 },
  );
});
