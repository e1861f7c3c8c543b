// `crosstalk watch --room`: the bus as a room on one screen. Every participant has a desk (live
// agents of every machine, the models that ran, the people who wrote) with what they are doing
// now: talking to someone, listening, working on a run, idle or offline; under the room, the
// conversation. The state here is pure (events in, lines out), so that it is tested without a
// terminal; watch.ts feeds it from the engine's event stream and draws it on the alternate screen.
import type { Peers } from "../engine/engine.ts";
import type { WatchEvent } from "./watch.ts";

/** What a participant is doing, as the room shows it. */
export type Mood = "talking" | "listening" | "working" | "idle" | "offline";

/** One participant's desk. */
export interface Desk {
  name: string;
  kind: "agent" | "model" | "human";
  /** For a live agent: CLI, model, role and machine. */
  detail: string;
  online: boolean;
  mood: Mood;
  /** Whom it talks to or listens to, or what it works on. */
  with?: string;
  /** What it said last (talking). */
  said?: string;
  /** Until when the mood holds before it falls back to idle (ms since the epoch). */
  until: number;
}

/** How long talking or listening shows after a message. */
const HOLD_MS = 8_000;
/** How many chat lines the room keeps. */
const FEED_LINES = 500;

const ANSI = {
  talking: "\x1b[32m",
  listening: "\x1b[36m",
  working: "\x1b[33m",
  idle: "\x1b[2m",
  offline: "\x1b[31m",
  reset: "\x1b[0m",
} as const;

/** The room: desks and the chat under them. */
export class Room {
  readonly desks = new Map<string, Desk>();
  readonly feed: string[] = [];
  #holdMs: number;
  /** A model's bare name to its `provider/model`, when no other model has that name. */
  #models = new Map<string, string>();

  constructor(holdMs = HOLD_MS) {
    this.#holdMs = holdMs;
  }

  /** Takes the live agents of every machine and the models (from /api/peers). */
  peers(peers: Pick<Peers, "agents" | "models">): void {
    const bare = new Map<string, string[]>();
    for (const { model } of peers.models) {
      const name = model.slice(model.indexOf("/") + 1);
      bare.set(name, [...(bare.get(name) ?? []), model]);
    }
    this.#models = new Map(
      [...bare].filter(([, full]) => full.length === 1).map(([name, [full]]) => [name, full!]),
    );
    for (const agent of peers.agents) {
      const desk = this.#desk(agent.name, "agent");
      desk.detail = [
        `${agent.agent}${agent.model ? `/${agent.model}` : ""}`,
        agent.role,
        `on ${agent.machine}`,
      ].filter(Boolean).join(", ");
      desk.online = agent.online;
      if (!agent.online) desk.mood = "offline";
      else if (desk.mood === "offline") desk.mood = "idle";
    }
  }

  /** Takes one event of the engine's stream; `body` is the message's text, for messages. */
  event(event: WatchEvent, body: string | undefined, now: number): void {
    const d = event.data;
    switch (event.type) {
      case "message": {
        const from = this.#person(String(d.from));
        const to = (Array.isArray(d.to) ? d.to : [d.to]).map((t) => this.#person(String(t)));
        const said = body === undefined ? "" : oneLine(body);
        const speaker = this.#desk(from, from.includes("/") ? "model" : "human");
        this.#feel(speaker, "talking", to.join(", "), now);
        speaker.said = said;
        for (const name of to) {
          if (name === "all" || name === "workflow") continue;
          this.#feel(
            this.#desk(name, name.includes("/") ? "model" : "human"),
            "listening",
            from,
            now,
          );
        }
        this.feed.push(`${clock(String(d.at ?? ""))} ${from} → ${to.join(", ")}: ${said}`);
        if (this.feed.length > FEED_LINES) this.feed.splice(0, this.feed.length - FEED_LINES);
        return;
      }
      case "claimed":
      case "running": {
        const desk = this.#desk(String(d.model), "model");
        // Working holds until the run ends (its reply or failure says so).
        this.#feel(desk, "working", event.type, Number.POSITIVE_INFINITY);
        return;
      }
      case "replied":
      case "failed":
      case "empty":
      case "skipped": {
        const desk = this.#desk(String(d.model), "model");
        if (event.type === "failed") {
          this.feed.push(
            `${clock(String(d.at ?? ""))} ${d.model} failed: ${oneLine(String(d.error ?? ""))}`,
          );
        }
        if (desk.mood === "working") this.#feel(desk, "idle", undefined, now);
        return;
      }
      case "woken":
      case "read":
        this.#feel(this.#desk(String(d.name), "agent"), "listening", undefined, now);
        return;
    }
  }

  /**
   * The screen: a header, the desks, then as much of the chat as fits, each line cut to
   * `columns`. With `color`, moods are colored.
   */
  render(
    now: number,
    size: { columns: number; rows: number },
    options: { title: string; color: boolean },
  ): string[] {
    const width = Math.max(20, size.columns);
    const desks = [...this.desks.values()].sort(byKindThenName);
    const online = desks.filter((d) => d.kind === "agent" && d.online).length;
    const lines = [
      cut(
        `crosstalk room · ${options.title} · ${online} agents online · ${
          clock(new Date(now).toISOString())
        }`,
        width,
      ),
      rule("", width),
    ];
    const room = Math.max(1, Math.floor((size.rows - 4) / 2));
    const shown = desks.slice(0, room);
    for (const desk of shown) lines.push(this.#line(desk, now, width, options.color));
    if (desks.length > shown.length) {
      lines.push(cut(`  … ${desks.length - shown.length} more`, width));
    }
    if (desks.length === 0) lines.push("  (nobody here yet)");
    lines.push(rule(" chat ", width));
    const left = Math.max(0, size.rows - lines.length);
    for (const line of this.feed.slice(-left)) lines.push(cut(line, width));
    return lines;
  }

  #line(desk: Desk, now: number, width: number, color: boolean): string {
    const mood = this.moodOf(desk, now);
    const icon = desk.kind === "agent"
      ? (desk.online ? "●" : "○")
      : desk.kind === "model"
      ? "◆"
      : "◇";
    const doing = mood === "talking"
      ? `talking → ${desk.with}`
      : mood === "listening"
      ? `listening${desk.with ? ` ← ${desk.with}` : ""}`
      : mood === "working"
      ? `working (${desk.with})`
      : mood;
    const said = mood === "talking" && desk.said ? `  "${desk.said}"` : "";
    const text = ` ${icon} ${desk.name.padEnd(16)} ${doing.padEnd(26)} ${desk.detail}${said}`;
    const line = cut(text, width);
    return color ? `${ANSI[mood]}${line}${ANSI.reset}` : line;
  }

  /** A desk's mood now: talking and listening fall back to idle when their time is up. */
  moodOf(desk: Desk, now: number): Mood {
    if (desk.kind === "agent" && !desk.online) return "offline";
    return now > desk.until && desk.mood !== "offline" ? "idle" : desk.mood;
  }

  /**
   * The desk an address sits at: without its machine, and a model by its full name
   * (`test/reply@a` and `reply` both sit at `test/reply`).
   */
  #person(address: string): string {
    const name = address.split("@")[0] || address;
    return this.#models.get(name) ?? name;
  }

  #desk(name: string, kind: Desk["kind"]): Desk {
    let desk = this.desks.get(name);
    if (!desk) {
      desk = { name, kind, detail: "", online: true, mood: "idle", until: 0 };
      this.desks.set(name, desk);
    }
    return desk;
  }

  #feel(desk: Desk, mood: Mood, withWhom: string | undefined, at: number): void {
    desk.mood = mood;
    if (withWhom === undefined) delete desk.with;
    else desk.with = withWhom;
    desk.until = at === Number.POSITIVE_INFINITY ? at : at + this.#holdMs;
  }
}

function byKindThenName(a: Desk, b: Desk): number {
  const order = { agent: 0, model: 1, human: 2 };
  return order[a.kind] - order[b.kind] || a.name.localeCompare(b.name);
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}

/** Cut to `width` code points (a terminal column each, for the text crosstalk shows). */
function cut(text: string, width: number): string {
  const chars = [...text];
  return chars.length > width ? `${chars.slice(0, width - 1).join("")}…` : text;
}

function rule(label: string, width: number): string {
  return `───${label}${"─".repeat(Math.max(0, width - 3 - [...label].length))}`;
}

function clock(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "--:--:--" : date.toISOString().slice(11, 19);
}
