// Property tests of the pure name functions: message ids, addresses, channel names.
import assert from "node:assert/strict";
import fc from "fast-check";
import { CrosstalkError } from "../../schema/errors.ts";
import {
  type Address,
  checkChannelName,
  formatAddress,
  formatMessageId,
  isChannelId,
  isName,
  type MessageIdParts,
  parseAddress,
  parseMessageId,
  tryParseAddress,
  tryParseMessageId,
} from "../../transports/names.ts";

const SEED = 20261122;

/** The message id pattern, written out independently of the source (ASCII digits only). */
const ID_PATTERN = /^[0-9]{4}\/[0-9]{2}\/[0-9]{2}\/[0-9]{9}Z-[0-9a-f]{8}\.md$/;

const timeArb = fc.date({
  min: new Date(Date.UTC(1000, 0, 1)),
  max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)),
  noInvalidDate: true,
});
const randomArb = fc.stringMatching(/^[0-9a-f]{8}$/);
const partsArb: fc.Arbitrary<MessageIdParts> = fc.record({ time: timeArb, random: randomArb }, {
  noNullPrototype: true,
});
const idArb = partsArb.map(formatMessageId);

/** Strings that are, in one way or another, almost a message id. */
const NEAR_MISSES = [
  "..",
  "/",
  "\\",
  "\n",
  "\r\n",
  "\0",
  " ",
  "٣", // ARABIC-INDIC DIGIT THREE
  "１", // FULLWIDTH DIGIT ONE
  "߀", // NKO DIGIT ZERO
  "𝟘", // MATHEMATICAL DOUBLE-STRUCK DIGIT ZERO
  "A",
  "F",
  "z",
  "0",
  ".md",
  "Z",
  "-",
];

/** A valid id with one character inserted, deleted or replaced. */
const mutatedIdArb = fc.tuple(
  idArb,
  fc.nat(),
  fc.nat({ max: 2 }),
  fc.constantFrom(...NEAR_MISSES),
  fc.constantFrom("insert", "delete", "replace"),
).map(([id, at, length, token, kind]) => {
  const i = at % (id.length + 1);
  if (kind === "insert") return id.slice(0, i) + token + id.slice(i);
  if (kind === "delete") return id.slice(0, i) + id.slice(i + length + 1);
  return id.slice(0, i) + token + id.slice(i + 1);
});

const anyStringArb = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme" }),
  mutatedIdArb,
);

const nameArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
  fc.constantFrom("a", "all", "workflow", "null", "true", "1", "0x1F", "1e5", "sonnet", "q-3.5_b"),
);

const addressArb: fc.Arbitrary<Address> = fc.record(
  { provider: nameArb, name: nameArb, alias: nameArb },
  { requiredKeys: ["name"], noNullPrototype: true },
);

function compareParts(a: MessageIdParts, b: MessageIdParts): number {
  const dt = a.time.getTime() - b.time.getTime();
  if (dt !== 0) return dt;
  return a.random < b.random ? -1 : a.random > b.random ? 1 : 0;
}

/** Runs `f`; returns its value, or the CrosstalkError it threw. Any other throw escapes. */
function outcome<T>(f: () => T): { value: T } | { error: CrosstalkError } {
  try {
    return { value: f() };
  } catch (error) {
    if (error instanceof CrosstalkError) return { error };
    throw error;
  }
}

Deno.test("formatMessageId and parseMessageId round-trip every time in years 1000-9999", () => {
  fc.assert(
    fc.property(partsArb, (parts) => {
      const id = formatMessageId(parts);
      assert.match(id, ID_PATTERN);
      assert.deepStrictEqual(parseMessageId(id), parts);
      assert.deepStrictEqual(tryParseMessageId(id), parts);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test("formatMessageId names the UTC date and time of the message", () => {
  fc.assert(
    fc.property(partsArb, (parts) => {
      const iso = parts.time.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ for these years
      const [date, time] = iso.slice(0, -1).split("T") as [string, string];
      const expected = `${date.replaceAll("-", "/")}/${
        time.replace(/[:.]/g, "")
      }Z-${parts.random}.md`;
      assert.equal(formatMessageId(parts), expected);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

Deno.test("tryParseMessageId returns undefined for every string that is not exactly the id pattern", () => {
  fc.assert(
    fc.property(anyStringArb.filter((s) => !ID_PATTERN.test(s)), (s) => {
      assert.equal(tryParseMessageId(s), undefined);
      const result = outcome(() => parseMessageId(s));
      assert.ok("error" in result, `parseMessageId accepted ${JSON.stringify(s)}`);
      assert.equal(result.error.code, "ERR_ID_INVALID");
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

Deno.test("tryParseMessageId rejects ids with '..', '/', backslashes or Unicode digits", () => {
  const cases = [
    "2026/11/22/031522123Z-9f3a01bc.md/..",
    "../2026/11/22/031522123Z-9f3a01bc.md",
    "2026/11/../22/031522123Z-9f3a01bc.md",
    "2026\\11\\22\\031522123Z-9f3a01bc.md",
    "2026/11/22/031522123Z-9f3a01bc.md\n",
    "/2026/11/22/031522123Z-9f3a01bc.md",
    "٢٠٢٦/11/22/031522123Z-9f3a01bc.md",
    "2026/１1/22/031522123Z-9f3a01bc.md",
    "2026/11/22/031522123Z-9F3A01BC.md",
    "2026/02/31/031522123Z-9f3a01bc.md",
    "2026/11/22/246060999Z-9f3a01bc.md",
  ];
  for (const id of cases) assert.equal(tryParseMessageId(id), undefined, JSON.stringify(id));
  assert.ok(tryParseMessageId("2026/11/22/031522123Z-9f3a01bc.md"));
});

Deno.test("tryParseMessageId never throws on a string of the id's shape and accepts only what formats back", () => {
  const shapeArb = fc.stringMatching(
    /^[0-9]{4}\/[0-9]{2}\/[0-9]{2}\/[0-9]{9}Z-[0-9a-f]{8}\.md$/,
  );
  fc.assert(
    fc.property(shapeArb, (id) => {
      const parts = tryParseMessageId(id);
      if (parts !== undefined) assert.equal(formatMessageId(parts), id);
      const result = outcome(() => parseMessageId(id));
      if ("error" in result) {
        assert.equal(parts, undefined);
        assert.equal(result.error.code, "ERR_ID_INVALID");
      } else {
        assert.deepStrictEqual(result.value, parts);
      }
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

Deno.test("parseMessageId rejects a year before 1000 with ERR_ID_INVALID", () => {
  const id = "0999/01/01/000000000Z-00000000.md";
  assert.equal(tryParseMessageId(id), undefined);
  assert.throws(
    () => parseMessageId(id),
    (error) => error instanceof CrosstalkError && error.code === "ERR_ID_INVALID",
  );
});

Deno.test("message ids sort lexicographically in time order", () => {
  fc.assert(
    fc.property(fc.array(partsArb, { minLength: 2, maxLength: 20 }), (parts) => {
      const byTime = parts.toSorted(compareParts).map(formatMessageId);
      const byText = parts.map(formatMessageId).toSorted();
      assert.deepStrictEqual(byText, byTime);
    }),
    { seed: SEED, numRuns: 1000 },
  );
  fc.assert(
    fc.property(partsArb, partsArb, (a, b) => {
      const order = Math.sign(compareParts(a, b));
      const ia = formatMessageId(a);
      const ib = formatMessageId(b);
      assert.equal(ia < ib ? -1 : ia > ib ? 1 : 0, order);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test("tryParseAddress and formatAddress round-trip every valid address", () => {
  fc.assert(
    fc.property(addressArb, (address) => {
      const text = formatAddress(address);
      assert.deepStrictEqual(tryParseAddress(text), address);
      assert.deepStrictEqual(parseAddress(text), address);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test("tryParseAddress never throws and accepts only canonical addresses", () => {
  const joinedArb = fc.array(fc.oneof(nameArb, fc.constantFrom("@", "/", "", " ", "..")), {
    maxLength: 6,
  }).map((parts) => parts.join(""));
  fc.assert(
    fc.property(fc.oneof(anyStringArb, joinedArb), (s) => {
      const address = tryParseAddress(s);
      if (address === undefined) {
        const result = outcome(() => parseAddress(s));
        assert.ok("error" in result);
        assert.equal(result.error.code, "ERR_ADDRESS_INVALID");
        return;
      }
      assert.equal(formatAddress(address), s);
      assert.ok(isName(address.name));
      if (address.provider !== undefined) assert.ok(isName(address.provider));
      if (address.alias !== undefined) assert.ok(isName(address.alias));
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

Deno.test("tryParseAddress rejects a second '@' or '/' and empty parts", () => {
  for (
    const s of ["", "@", "/", "a@", "@a", "a/", "/a", "a@b@c", "a/b/c", "a/b@c/d", "a//b", ".a"]
  ) {
    assert.equal(tryParseAddress(s), undefined, JSON.stringify(s));
  }
});

const CHANNEL_FORBIDDEN = ["/", "\\", ".."];
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
const UUID_ANY_CASE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const channelCharArb = fc.constantFrom(
  ..."abcxyzABCXYZ0189 ._#+-éßжЖ日本語٣",
);
const validChannelNameArb = fc.tuple(
  fc.constantFrom(..."aZ09éж日٣"),
  fc.array(channelCharArb, { maxLength: 99 }),
).map(([first, rest]) => first + rest.join("")).filter((s) => !s.includes(".."));

Deno.test("checkChannelName accepts names of letters, digits, spaces and . _ # + -", () => {
  fc.assert(
    fc.property(validChannelNameArb, (name) => {
      assert.equal(checkChannelName(name), name);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test("checkChannelName throws only CrosstalkError and accepts only safe names", () => {
  fc.assert(
    fc.property(fc.oneof(anyStringArb, validChannelNameArb), (name) => {
      const result = outcome(() => checkChannelName(name));
      if ("error" in result) {
        assert.equal(result.error.code, "ERR_CHANNEL_INVALID");
        assert.ok(result.error.message.startsWith(`Invalid channel name ${JSON.stringify(name)}`));
        return;
      }
      assert.equal(result.value, name);
      for (const bad of CHANNEL_FORBIDDEN) assert.ok(!name.includes(bad));
      assert.ok(!CONTROL.test(name), `accepted a control character in ${JSON.stringify(name)}`);
      assert.ok(!isChannelId(name));
      const length = [...name].length;
      assert.ok(length >= 1 && length <= 100);
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

Deno.test("checkChannelName rejects a valid name with '/', '\\', '..' or a control character inserted", () => {
  const badArb = fc.oneof(
    fc.constantFrom(...CHANNEL_FORBIDDEN),
    fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
    fc.integer({ min: 0x7f, max: 0x9f }).map((c) => String.fromCharCode(c)),
  );
  fc.assert(
    fc.property(validChannelNameArb, fc.nat(), badArb, (name, at, bad) => {
      const i = at % (name.length + 1);
      const candidate = name.slice(0, i) + bad + name.slice(i);
      assert.throws(
        () => checkChannelName(candidate),
        (error) => error instanceof CrosstalkError && error.code === "ERR_CHANNEL_INVALID",
      );
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test("checkChannelName rejects a channel uuid", () => {
  fc.assert(
    fc.property(fc.uuid(), (uuid) => {
      const id = uuid.toLowerCase();
      assert.throws(
        () => checkChannelName(id),
        (error) =>
          error instanceof CrosstalkError && error.code === "ERR_CHANNEL_INVALID" &&
          error.message.includes("must not look like a channel id"),
      );
    }),
    { seed: SEED, numRuns: 500 },
  );
});

Deno.test("checkChannelName rejects a uuid in any letter case", () => {
  // Bus.resolveChannel matches names before it lowercases a handle into an id prefix, so a
  // channel named after another channel's id in capitals would shadow that id.
  fc.assert(
    fc.property(fc.uuid(), fc.array(fc.boolean(), { minLength: 36, maxLength: 36 }), (u, up) => {
      const uuid = [...u].map((c, i) => (up[i] ? c.toUpperCase() : c)).join("");
      assert.ok(UUID_ANY_CASE.test(uuid));
      assert.throws(
        () => checkChannelName(uuid),
        (error) => error instanceof CrosstalkError && error.code === "ERR_CHANNEL_INVALID",
        `accepted ${JSON.stringify(uuid)}`,
      );
    }),
    { seed: SEED, numRuns: 500 },
  );
});
