/**
 * Benchmarks of the local transport's hot paths, each beside a bare-Deno baseline measured in the
 * same run: atomic message writes, listing a channel, and the watcher's latency from rename to
 * event. Measurement only, never a pass/fail test: see docs/BENCHMARKS.md.
 *
 * Run: `deno task bench [--quick] [--json]`.
 */
import { type ApiBenchResult, benchApi, formatApi } from "./bench_api.ts";
import { benchEngine, type EngineBenchResult, formatEngine } from "./bench_engine.ts";
import { benchStart, formatStart, type StartBenchResult } from "./bench_start.ts";
import { benchGit, formatGit, type GitBenchResult } from "./bench_git.ts";
import { benchLive, formatLive, type LiveBenchResult } from "./bench_live.ts";
import { basename, dirname, join } from "node:path";
import { fileCreateMicros, removeScratch, scratchDir, scratchRoot } from "./_scratch.ts";
import { Bus } from "../engine/bus.ts";
import { searchMessages } from "../engine/search.ts";
import {
  BusWatcher,
  Cursor,
  formatMessage,
  LocalTransport,
  MessageFeed,
  type MessageFields,
  newMessageId,
  scaffoldTransport,
} from "../transports/mod.ts";

/** DESIGN.md §9 floors on our 2-core machines, in ms, for the "× floor" columns. */
export /** Above this a file create is slow enough to skew the figures (a settled disk: about 20 µs). */
const SLOW_CREATE_MICROS = 150;

const FLOORS_MS = { write: 0.1, writeFsync: 0.45, watchEvent: 0.1 } as const;

/** How much work each benchmark does. */
export interface BenchParams {
  /** Messages per timed write run without fsync. */
  writeMessages: number;
  /** Messages per timed write run with fsync. */
  writeSyncMessages: number;
  /** Timed write runs per variant (the median is reported). */
  writeRuns: number;
  /** Messages in the listed channel. */
  listMessages: number;
  /** Timed runs of each full listing (the median is reported). */
  listRuns: number;
  /** Timed runs of the page of 50 (the median is reported). */
  pageRuns: number;
  /** Timed rename → event samples per watcher. */
  watchEvents: number;
  /** Untimed rename → event round trips before the timed ones. */
  watchWarmup: number;
}

const FULL: BenchParams = {
  writeMessages: 2_000,
  writeSyncMessages: 500,
  writeRuns: 7,
  listMessages: 10_000,
  listRuns: 9,
  pageRuns: 51,
  watchEvents: 1_000,
  watchWarmup: 100,
};

const QUICK: BenchParams = {
  writeMessages: 200,
  writeSyncMessages: 40,
  writeRuns: 3,
  listMessages: 1_000,
  listRuns: 3,
  pageRuns: 7,
  watchEvents: 40,
  watchWarmup: 10,
};

const PAGE_SIZE = 50;
/** Bus.listMessages reads 16 files at a time; the read-all baseline does the same. */
const READ_CONCURRENCY = 16;
/** A rename whose event has not arrived after this long counts as missed (never expected). */
const MISSED_AFTER_MS = 5_000;
const BODY = "Please review the attached plan and reply with the three riskiest steps.\n\n" +
  "- step one: migrate the schema\n- step two: backfill the index\n- step three: flip reads\n\n" +
  "Keep the answer under two hundred words; cite the files you looked at.";
const encoder = new TextEncoder();

/** A throughput figure. */
export interface Rate {
  msgsPerSec: number;
  msPerMsg: number;
}

/** Latency percentiles, in ms. */
export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/** Every figure the bench measures; each number is a positive count, duration, rate or ratio. */
export interface BenchResults {
  write: {
    messages: number;
    syncMessages: number;
    runs: number;
    transportFsync: Rate;
    baselineFsync: Rate;
    transportNoSync: Rate;
    baselineNoSync: Rate;
    /** Transport time per message ÷ baseline time per message (1 = as fast as the baseline). */
    ratioFsync: number;
    ratioNoSync: number;
    /** Transport time per message ÷ the DESIGN.md §9 floor. */
    floorRatioFsync: number;
    floorRatioNoSync: number;
  };
  list: {
    messages: number;
    runs: number;
    pageRuns: number;
    pageSize: number;
    baselineReadDirMs: number;
    baselineReadAllMs: number;
    listMessageIdsMs: number;
    listMessagesAllMs: number;
    listMessagesPageMs: number;
    /** Each listing's time ÷ the recursive readDir's time. */
    ratioListMessageIds: number;
    ratioListMessagesAll: number;
    ratioListMessagesPage: number;
    /** Bus.listMessages (all) ÷ readDir + readFile of every file: the cost of validating. */
    ratioListMessagesAllToReadAll: number;
    /** searchMessages over the whole channel, a word no message holds (every file read). */
    searchAllMs: number;
    /** searchMessages (all) ÷ readDir + readFile of every file. */
    ratioSearchToReadAll: number;
  };
  watch: {
    events: number;
    baselineWatchFs: Percentiles;
    busWatcher: Percentiles;
    messageFeed: Percentiles;
    /** p50 ÷ the raw Deno.watchFs p50. */
    ratioBusWatcherP50: number;
    ratioMessageFeedP50: number;
    /** BusWatcher p50 ÷ the DESIGN.md §9 watch event floor. */
    floorRatioBusWatcherP50: number;
  };
}

/** The document `--json` prints. */
export interface BenchReport {
  date: string;
  /** The script's arguments. */
  args: string[];
  quick: boolean;
  deno: typeof Deno.version;
  machine: { os: string; arch: string; cpus: number; memoryBytes: number };
  /** The folder the temp dirs were made in (`$TMPDIR`, else `~/.cache/crosstalk-bench`). */
  tmpDir: string;
  /** Creating one empty file there, median µs, measured at the start (see scripts/_scratch.ts). */
  fileCreateMicros: number;
  /** `Deno.loadavg()` (1, 5, 15 min) before and after: other work on the machine skews figures. */
  loadavg: { start: number[]; end: number[] };
  params: BenchParams;
  floorsMs: typeof FLOORS_MS;
  results: BenchResults;
  /** Anything that makes the figures doubtful, e.g. watch events that never arrived. */
  warnings: string[];
  /** The engine's figures (scripts/bench_engine.ts). */
  engine?: EngineBenchResult;
  /** The HTTP API's figures (scripts/bench_api.ts). */
  api?: ApiBenchResult;
  /** Engine start-up and idle memory (scripts/bench_start.ts). */
  start?: StartBenchResult;
  /** The git transport's figures (scripts/bench_git.ts). */
  git?: GitBenchResult;
  /** Live agents: MCP sessions woken and reading (scripts/bench_live.ts). */
  live?: LiveBenchResult;
}

const HELP = `Usage: deno task bench [--quick] [--json]

Measures LocalTransport writes, channel listing and watcher latency beside bare-Deno baselines.

  --quick   a small run (seconds instead of minutes), for smoke tests
  --json    print one JSON document instead of the table
  -h        this help

Temp folders go under $TMPDIR (default /tmp): its filesystem is part of what is measured.
`;

/** Runs every benchmark and returns the report. Progress goes to `log`. */
export async function runBench(
  params: BenchParams,
  log: (line: string) => void = () => {},
): Promise<BenchReport> {
  const warnings: string[] = [];
  const loadStart = Deno.loadavg();
  const createMicros = await fileCreateMicros();
  if (createMicros > SLOW_CREATE_MICROS) {
    warnings.push(
      `creating a file in ${scratchRoot()} takes ${
        createMicros.toFixed(0)
      } µs (a folder where many files were just deleted?): every figure that writes files is slowed; see docs/BENCHMARKS.md`,
    );
  }
  const tmp = await scratchDir("crosstalk-bench-");
  const timed = async <T>(label: string, run: () => Promise<T>): Promise<T> => {
    log(`${label}…`);
    const start = performance.now();
    const result = await run();
    log(`${label}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
    return result;
  };
  const write = await timed("1/3 atomic writes", () => benchWrites(join(tmp, "write"), params));
  const list = await timed("2/3 listing a channel", () => benchList(join(tmp, "list"), params));
  const watch = await timed(
    "3/3 watch latency",
    () => benchWatch(join(tmp, "watch"), params, warnings),
  );
  return {
    date: new Date().toISOString(),
    args: [],
    quick: false,
    deno: Deno.version,
    machine: {
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
      memoryBytes: Deno.systemMemoryInfo().total,
    },
    tmpDir: dirname(tmp),
    fileCreateMicros: createMicros,
    loadavg: { start: loadStart, end: Deno.loadavg() },
    params,
    floorsMs: FLOORS_MS,
    results: { write, list, watch },
    warnings,
  };
}

// 1. Atomic writes ------------------------------------------------------------------------------

async function benchWrites(root: string, params: BenchParams): Promise<BenchResults["write"]> {
  await scaffoldTransport(root, { kind: "local" });
  const fsync = new LocalTransport(root);
  const noSync = new LocalTransport(root, { sync: false });
  const bytes = encoder.encode(formatMessage(messageFields(new Date())));

  // Each run writes into a fresh channel, so that every run starts from the same empty folders.
  // Nothing is deleted until the end: on a filesystem mounted with online `discard`, freeing
  // blocks stalls the journal, and a delete between runs slowed the next run's creates tenfold.
  const viaTransport = (transport: LocalTransport) => async (n: number) => {
    const channel = await newChannel(transport);
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      await transport.writeMessage(channel, messageFields(new Date()));
    }
    return performance.now() - start;
  };
  // The same bytes, the same folder layout (channel/YYYY/MM/DD/name.md), a dot-named temp file in
  // the same folder; only the transport's work is missing.
  const bare = (sync: boolean) => async (n: number) => {
    const channelDir = join(fsync.channelsDir, crypto.randomUUID());
    const paths = Array.from({ length: n }, () => join(channelDir, newMessageId(new Date())));
    for (const dir of new Set(paths.map((p) => dirname(p)))) {
      await Deno.mkdir(dir, { recursive: true });
    }
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const path = paths[i]!;
      const temp = join(dirname(path), `.crosstalk-tmp-${i}`);
      if (sync) {
        const file = await Deno.open(temp, { write: true, createNew: true });
        try {
          let written = 0;
          while (written < bytes.length) written += await file.write(bytes.subarray(written));
          await file.syncData();
        } finally {
          file.close();
        }
      } else {
        await Deno.writeFile(temp, bytes, { createNew: true });
      }
      await Deno.rename(temp, path);
    }
    return performance.now() - start;
  };

  const noSyncRates = await compareRates({
    transport: viaTransport(noSync),
    baseline: bare(false),
    messages: params.writeMessages,
    runs: params.writeRuns,
  });
  const fsyncRates = await compareRates({
    transport: viaTransport(fsync),
    baseline: bare(true),
    messages: params.writeSyncMessages,
    runs: params.writeRuns,
  });
  return {
    messages: params.writeMessages,
    syncMessages: params.writeSyncMessages,
    runs: params.writeRuns,
    transportFsync: fsyncRates.transport,
    baselineFsync: fsyncRates.baseline,
    transportNoSync: noSyncRates.transport,
    baselineNoSync: noSyncRates.baseline,
    ratioFsync: fsyncRates.transport.msPerMsg / fsyncRates.baseline.msPerMsg,
    ratioNoSync: noSyncRates.transport.msPerMsg / noSyncRates.baseline.msPerMsg,
    floorRatioFsync: fsyncRates.transport.msPerMsg / FLOORS_MS.writeFsync,
    floorRatioNoSync: noSyncRates.transport.msPerMsg / FLOORS_MS.write,
  };
}

interface CompareRatesOptions {
  transport: (n: number) => Promise<number>;
  baseline: (n: number) => Promise<number>;
  messages: number;
  runs: number;
}

/** Warms both up, then alternates timed runs (so drift hits both alike); medians of msgs/s. */
async function compareRates(
  options: CompareRatesOptions,
): Promise<{ transport: Rate; baseline: Rate }> {
  const warmup = Math.max(10, Math.ceil(options.messages / 4));
  await options.transport(warmup);
  await options.baseline(warmup);
  const transport: number[] = [];
  const baseline: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    const pair = run % 2 === 0
      ? [[options.transport, transport], [options.baseline, baseline]] as const
      : [[options.baseline, baseline], [options.transport, transport]] as const;
    for (const [measure, into] of pair) {
      into.push(options.messages / ((await measure(options.messages)) / 1000));
    }
  }
  const rate = (rates: number[]): Rate => {
    const msgsPerSec = median(rates);
    return { msgsPerSec, msPerMsg: 1000 / msgsPerSec };
  };
  return { transport: rate(transport), baseline: rate(baseline) };
}

// 2. Listing ------------------------------------------------------------------------------------

async function benchList(root: string, params: BenchParams): Promise<BenchResults["list"]> {
  await scaffoldTransport(root, { kind: "local" });
  const transport = new LocalTransport(root, { sync: false });
  const channel = await newChannel(transport);
  const n = params.listMessages;
  // Thirty days of traffic, so the channel has the YYYY/MM/DD folders a real one has.
  const first = Date.UTC(2026, 9, 20);
  const step = (30 * 24 * 3600 * 1000) / n;
  let next = 0;
  const writer = async () => {
    while (next < n) {
      const i = next++;
      await transport.writeMessage(channel, messageFields(new Date(first + i * step)));
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));

  const bus = await Bus.open(
    { root, name: "bench", stateDir: `${root}-state`, isDefault: false },
    { env: {} },
  );
  const ids = await transport.listMessageIds(channel);
  if (ids.length !== n) throw new Error(`Expected ${n} messages, listed ${ids.length}`);
  const since = ids[Math.floor(n / 2)]!;
  const channelDir = join(transport.channelsDir, channel);

  const readDir = async () => {
    const count = (await walkFiles(channelDir)).length;
    if (count !== n + 1) throw new Error(`Expected ${n + 1} files, found ${count}`);
  };
  const readAll = async () => {
    const files = await walkFiles(channelDir);
    let i = 0;
    const worker = async () => {
      while (i < files.length) await Deno.readFile(files[i++]!);
    };
    await Promise.all(Array.from({ length: READ_CONCURRENCY }, worker));
  };
  const listIds = async () => {
    const got = await transport.listMessageIds(channel);
    if (got.length !== n) throw new Error(`listMessageIds returned ${got.length} of ${n}`);
  };
  const listAll = async () => {
    const got = await bus.listMessages(channel);
    if (got.messages.length !== n) throw new Error(`listMessages read ${got.messages.length}`);
  };
  const search = async () => {
    const got = await searchMessages(bus, "absent-word", { budget: n + 1 });
    if (got.scanned !== n || !got.complete) throw new Error(`search read ${got.scanned} of ${n}`);
  };
  const listPage = async () => {
    const got = await bus.listMessages(channel, { since, limit: PAGE_SIZE });
    if (got.messages.length !== PAGE_SIZE) throw new Error(`A page held ${got.messages.length}`);
  };

  const full = await medianTimes(
    { readDir, readAll, listIds, listAll, search },
    params.listRuns,
  );
  const page = await medianTimes({ readDir, listPage }, params.pageRuns);
  return {
    messages: n,
    runs: params.listRuns,
    pageRuns: params.pageRuns,
    pageSize: PAGE_SIZE,
    baselineReadDirMs: full.readDir,
    baselineReadAllMs: full.readAll,
    listMessageIdsMs: full.listIds,
    listMessagesAllMs: full.listAll,
    listMessagesPageMs: page.listPage,
    ratioListMessageIds: full.listIds / full.readDir,
    ratioListMessagesAll: full.listAll / full.readDir,
    ratioListMessagesPage: page.listPage / page.readDir,
    ratioListMessagesAllToReadAll: full.listAll / full.readAll,
    searchAllMs: full.search,
    ratioSearchToReadAll: full.search / full.readAll,
  };
}

/** Every file path under `dir`, by a plain recursive Deno.readDir. */
async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (path: string): Promise<void> => {
    for await (const entry of Deno.readDir(path)) {
      const child = join(path, entry.name);
      if (entry.isDirectory) await walk(child);
      else out.push(child);
    }
  };
  await walk(dir);
  return out;
}

/** Two warm-up calls each, then `runs` rounds calling each in turn; the median ms of each. */
async function medianTimes<K extends string>(
  cases: Record<K, () => Promise<void>>,
  runs: number,
): Promise<Record<K, number>> {
  const names = Object.keys(cases) as K[];
  const times = new Map<K, number[]>(names.map((name) => [name, []]));
  for (const name of names) {
    await cases[name]();
    await cases[name]();
  }
  for (let run = 0; run < runs; run++) {
    for (const name of run % 2 === 0 ? names : [...names].reverse()) {
      const start = performance.now();
      await cases[name]();
      times.get(name)!.push(performance.now() - start);
    }
  }
  return Object.fromEntries(names.map((name) => [name, median(times.get(name)!)])) as Record<
    K,
    number
  >;
}

// 3. Watch latency ------------------------------------------------------------------------------

/** Resolves promises keyed by path or message ref with the time a handler saw them. */
class Arrivals {
  #waiting = new Map<string, (at: number) => void>();

  expect(key: string): Promise<number> {
    const { promise, resolve } = Promise.withResolvers<number>();
    this.#waiting.set(key, resolve);
    return promise;
  }

  seen(key: string, at: number): void {
    const resolve = this.#waiting.get(key);
    if (!resolve) return;
    this.#waiting.delete(key);
    resolve(at);
  }

  forget(key: string): void {
    this.#waiting.delete(key);
  }
}

/** One watcher under test, in its own fresh transport. */
interface WatchSubject {
  label: string;
  /** Starts the watcher; its handler calls `arrivals.seen()`. */
  start(): Promise<void>;
  close(): Promise<void>;
  /** The key the handler reports for a message file. */
  keyOf(channel: string, id: string, path: string): string;
}

/** A watcher under test with the transport, channel and ids it is measured on. */
interface WatchRig {
  subject: WatchSubject;
  arrivals: Arrivals;
  channelsDir: string;
  channel: string;
  ids: string[];
  bytes: Uint8Array;
  next: number;
  samples: number[];
  missed: number;
}

/** Makes the watcher under test for a transport. */
type WatchSubjectFactory = (
  arrivals: Arrivals,
  transport: LocalTransport,
  stateDir: string,
) => WatchSubject;

async function benchWatch(
  root: string,
  params: BenchParams,
  warnings: string[],
): Promise<BenchResults["watch"]> {
  const ignore = (path: string) => basename(path).startsWith(".");
  const factories: WatchSubjectFactory[] = [
    (arrivals, transport) => {
      let watcher: Deno.FsWatcher | undefined;
      let loop: Promise<void> | undefined;
      return {
        label: "Deno.watchFs",
        start() {
          watcher = Deno.watchFs(transport.channelsDir, { recursive: true });
          loop = (async () => {
            for await (const event of watcher!) {
              const at = performance.now();
              for (const path of event.paths) arrivals.seen(path, at);
            }
          })();
          return Promise.resolve();
        },
        async close() {
          watcher?.close();
          await loop;
        },
        keyOf: (_channel, _id, path) => path,
      };
    },
    (arrivals, transport) => {
      const watcher = new BusWatcher(transport.channelsDir, (batch) => {
        const at = performance.now();
        for (const path of batch.paths) arrivals.seen(path, at);
        return Promise.resolve();
      }, { mode: "events", pollIntervalMs: 0, ignore });
      return {
        label: "BusWatcher",
        start() {
          watcher.start();
          return Promise.resolve();
        },
        close: () => watcher.close(),
        keyOf: (_channel, _id, path) => path,
      };
    },
    (arrivals, transport, stateDir) => {
      let feed: MessageFeed | undefined;
      let cursor: Cursor | undefined;
      return {
        label: "MessageFeed",
        async start() {
          await Deno.mkdir(stateDir, { recursive: true });
          cursor = await Cursor.open(join(stateDir, "cursor"));
          feed = new MessageFeed(transport, (messages) => {
            const at = performance.now();
            for (const message of messages) arrivals.seen(`${message.channel}/${message.id}`, at);
            return Promise.resolve();
          }, { cursor, mode: "events", pollIntervalMs: 0 });
          await feed.start();
        },
        async close() {
          await feed?.close();
          cursor?.close();
        },
        keyOf: (channel, id) => `${channel}/${id}`,
      };
    },
  ];
  const rigs: WatchRig[] = [];
  try {
    for (const [i, factory] of factories.entries()) {
      rigs.push(await watchRig(`${root}-${i}`, params, factory));
    }
    for (const rig of rigs) await rig.subject.start();
    for (const rig of rigs) await sampleWatch(rig, params.watchWarmup, false);
    // Rounds that take turns, so that a disturbance on the machine hits every watcher alike.
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      for (const rig of round % 2 === 0 ? rigs : [...rigs].reverse()) {
        const count = Math.floor(params.watchEvents * (round + 1) / rounds) -
          Math.floor(params.watchEvents * round / rounds);
        await sampleWatch(rig, count, true);
      }
    }
  } finally {
    for (const rig of rigs) await rig.subject.close();
  }
  const [baselineWatchFs, busWatcher, messageFeed] = rigs.map((rig) => {
    if (rig.missed > 0) {
      warnings.push(
        `${rig.subject.label}: ${rig.missed} renames gave no event within ${MISSED_AFTER_MS} ms`,
      );
    }
    if (rig.samples.length === 0) throw new Error(`${rig.subject.label}: no watch event arrived`);
    const sorted = [...rig.samples].sort((a, b) => a - b);
    return {
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      p99: percentile(sorted, 0.99),
    };
  }) as [Percentiles, Percentiles, Percentiles];
  return {
    events: params.watchEvents,
    baselineWatchFs,
    busWatcher,
    messageFeed,
    ratioBusWatcherP50: busWatcher.p50 / baselineWatchFs.p50,
    ratioMessageFeedP50: messageFeed.p50 / baselineWatchFs.p50,
    floorRatioBusWatcherP50: busWatcher.p50 / FLOORS_MS.watchEvent,
  };
}

/** A fresh transport and channel for one watcher, with the message ids it will see. */
async function watchRig(
  root: string,
  params: BenchParams,
  factory: WatchSubjectFactory,
): Promise<WatchRig> {
  await scaffoldTransport(root, { kind: "local" });
  const transport = new LocalTransport(root, { sync: false });
  const channel = await newChannel(transport);
  // Ids on one fixed day whose folder exists before the watcher starts: every event is a file
  // event, never a new-folder event (those happen once a day per channel).
  const day = Date.UTC(2026, 10, 22, 12);
  const total = params.watchWarmup + params.watchEvents;
  const ids = Array.from({ length: total }, (_, i) => newMessageId(new Date(day + i)));
  await Deno.mkdir(dirname(join(transport.channelsDir, channel, ids[0]!)), { recursive: true });
  const arrivals = new Arrivals();
  return {
    subject: factory(arrivals, transport, `${root}-state`),
    arrivals,
    channelsDir: transport.channelsDir,
    channel,
    ids,
    bytes: encoder.encode(formatMessage(messageFields(new Date(day)))),
    next: 0,
    samples: [],
    missed: 0,
  };
}

/**
 * Writes `count` messages one at a time, each to a dot-named temp file beside its final name,
 * and times from just before `Deno.rename` into place to the handler seeing it.
 */
async function sampleWatch(rig: WatchRig, count: number, keep: boolean): Promise<void> {
  for (let n = 0; n < count; n++) {
    const i = rig.next++;
    const id = rig.ids[i]!;
    const path = join(rig.channelsDir, rig.channel, id);
    const temp = join(dirname(path), `.crosstalk-tmp-${i}`);
    await Deno.writeFile(temp, rig.bytes, { createNew: true });
    const key = rig.subject.keyOf(rig.channel, id, path);
    const arrived = rig.arrivals.expect(key);
    const start = performance.now();
    await Deno.rename(temp, path);
    const at = await within(arrived, MISSED_AFTER_MS);
    if (at === undefined) {
      rig.arrivals.forget(key);
      rig.missed++;
    } else if (keep) {
      rig.samples.push(at - start);
    }
  }
}

/** The promise's value, or undefined when it takes longer than `ms` (a guard, not a delay). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Helpers ---------------------------------------------------------------------------------------

function messageFields(time: Date): MessageFields {
  return { from: "bench", to: ["echo"], timestamp: time.toISOString(), body: BODY };
}

async function newChannel(transport: LocalTransport): Promise<string> {
  const created = await transport.createChannel({
    name: `bench-${crypto.randomUUID().slice(0, 8)}`,
    created: new Date().toISOString(),
  });
  return created.id;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

// Output ----------------------------------------------------------------------------------------

/** The report as the table `deno task bench` prints. */
export function formatTable(report: BenchReport): string {
  const { write, list, watch } = report.results;
  const gib = (report.machine.memoryBytes / 2 ** 30).toFixed(1);
  const num = (value: number, digits = 2) => value.toFixed(digits);
  const int = (value: number) => Math.round(value).toLocaleString("en-US");
  const row = (cells: string[], widths: number[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[0]!) : cell.padStart(widths[i]!)))
      .join("  ").trimEnd();
  const lines: string[] = [];
  lines.push(
    `crosstalk bench${report.quick ? " --quick" : ""}: ${report.date}`,
    `Deno ${report.deno.deno} (V8 ${report.deno.v8}), ${report.machine.os}/${report.machine.arch}, ` +
      `${report.machine.cpus} CPUs, ${gib} GiB; load average ${
        report.loadavg.start.map((x) => x.toFixed(2)).join(" ")
      } before, ${report.loadavg.end.map((x) => x.toFixed(2)).join(" ")} after`,
    `temp folders in ${report.tmpDir}; creating a file there: ${
      report.fileCreateMicros.toFixed(0)
    } µs (median)`,
    "",
  );

  const w1 = [44, 9, 8, 11, 9];
  lines.push(
    `1. Atomic message writes, one at a time (median of ${write.runs} runs; ` +
      `${int(write.messages)} msgs per run without fsync, ${int(write.syncMessages)} with)`,
    row(["", "msgs/s", "ms/msg", "× baseline", "× floor"], w1),
  );
  const writeRow = (label: string, rate: Rate, ratio: string, floor: string) =>
    lines.push(row([label, int(rate.msgsPerSec), num(rate.msPerMsg, 3), ratio, floor], w1));
  writeRow(
    "LocalTransport.writeMessage (fsync)",
    write.transportFsync,
    num(write.ratioFsync),
    num(write.floorRatioFsync),
  );
  writeRow("baseline: writeFile + fsync + rename", write.baselineFsync, "1.00", "");
  writeRow(
    "LocalTransport.writeMessage (sync: false)",
    write.transportNoSync,
    num(write.ratioNoSync),
    num(write.floorRatioNoSync),
  );
  writeRow("baseline: writeFile + rename", write.baselineNoSync, "1.00", "");
  lines.push("");

  const w2 = [44, 9, 11];
  lines.push(
    `2. Listing a channel of ${int(list.messages)} messages (median of ${list.runs} runs; ` +
      `page: ${list.pageRuns} runs)`,
    row(["", "ms", "× readDir"], w2),
    row(["baseline: recursive readDir", num(list.baselineReadDirMs), "1.00"], w2),
    row([
      "baseline: readDir + readFile of every file",
      num(list.baselineReadAllMs),
      num(list.baselineReadAllMs / list.baselineReadDirMs),
    ], w2),
    row([
      "LocalTransport.listMessageIds",
      num(list.listMessageIdsMs),
      num(list.ratioListMessageIds),
    ], w2),
    row([
      "Bus.listMessages, all (read + parse)",
      num(list.listMessagesAllMs),
      num(list.ratioListMessagesAll),
    ], w2),
    row([
      `Bus.listMessages, page of ${list.pageSize} {since, limit}`,
      num(list.listMessagesPageMs, 3),
      num(list.ratioListMessagesPage, 3),
    ], w2),
    row([
      "searchMessages, every message (no index)",
      num(list.searchAllMs),
      num(list.searchAllMs / list.baselineReadDirMs),
    ], w2),
    `   Bus.listMessages (all) ÷ readDir + readFile: ${num(list.ratioListMessagesAllToReadAll)}`,
    `   searchMessages (all) ÷ readDir + readFile: ${num(list.ratioSearchToReadAll)}`,
    "",
  );

  const w3 = [44, 7, 7, 7, 11, 8];
  lines.push(
    `3. Watch latency, rename → handler, ms (${int(watch.events)} renames, one at a time)`,
    row(["", "p50", "p95", "p99", "× baseline", "× floor"], w3),
  );
  const watchRow = (label: string, p: Percentiles, ratio: string, floor: string) =>
    lines.push(row([label, num(p.p50, 3), num(p.p95, 3), num(p.p99, 3), ratio, floor], w3));
  watchRow("baseline: Deno.watchFs loop", watch.baselineWatchFs, "1.00", "");
  watchRow(
    "BusWatcher (events) → paths",
    watch.busWatcher,
    num(watch.ratioBusWatcherP50),
    num(watch.floorRatioBusWatcherP50),
  );
  watchRow(
    "MessageFeed → parsed Message",
    watch.messageFeed,
    num(watch.ratioMessageFeedP50),
    "",
  );
  lines.push(
    "",
    "× baseline: time ÷ the baseline's time (p50 for latency). × floor: time ÷ the DESIGN.md §9",
    `floor (write ${FLOORS_MS.write} ms, with fsync ${FLOORS_MS.writeFsync} ms, ` +
      `watch event ${FLOORS_MS.watchEvent} ms).`,
  );
  for (const warning of report.warnings) lines.push(`warning: ${warning}`);
  return lines.join("\n");
}

async function main(args: string[]): Promise<void> {
  const known = new Set(["--quick", "--json", "-h", "--help"]);
  const unknown = args.filter((arg) => !known.has(arg));
  if (args.includes("-h") || args.includes("--help")) {
    console.log(HELP);
    return;
  }
  if (unknown.length > 0) {
    console.error(`error: Unknown argument "${unknown[0]}"\n\n${HELP}`);
    Deno.exitCode = 64;
    return;
  }
  const quick = args.includes("--quick");
  const json = args.includes("--json");
  const started = performance.now();
  const report = await runBench(quick ? QUICK : FULL, (line) => console.error(line));
  report.quick = quick;
  report.args = args;
  console.error("engine: send -> reply, wake, throughput");
  report.engine = await benchEngine(quick);
  console.error("api: sends, SSE fan-out, CLI wall time");
  report.api = await benchApi(quick);
  console.error("start: engine cold start to /healthz, idle RSS");
  report.start = await benchStart(quick);
  console.error("git: two engines on one remote, bursts, ingest");
  report.git = await benchGit(quick, (line) => console.error(line));
  console.error("live: MCP sessions sending to each other at once");
  report.live = await benchLive(quick, (line) => console.error(line));
  const cleanup = performance.now();
  await removeScratch();
  console.error(`cleanup: ${((performance.now() - cleanup) / 1000).toFixed(1)} s`);
  console.error(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(
    json
      ? JSON.stringify(report, null, 2)
      : `${formatTable(report)}\n\n${formatEngine(report.engine)}\n\n${formatApi(report.api)}` +
        `\n\n${formatStart(report.start)}\n\n${formatGit(report.git)}` +
        `\n\n${formatLive(report.live).join("\n")}`,
  );
}

if (import.meta.main) await main(Deno.args);
