// A small command-line parser with the subset of commander's API our commands use. Loading
// commander cost every CLI run 30-40 ms; this one costs nothing noticeable.

/** Help was asked for (exit 0, stdout) or a usage error happened (exit 64, stderr). */
export class UsageExit extends Error {
  /** The help text to print. */
  readonly help: string;
  /** 0 for asked-for help, 64 for a usage error. */
  readonly exitCode: 0 | 64;

  constructor(message: string, help: string, exitCode: 0 | 64) {
    super(message);
    this.name = "UsageExit";
    this.help = help;
    this.exitCode = exitCode;
  }
}

// deno-lint-ignore no-explicit-any
type Parser = (value: string, previous: any) => unknown;

/** One option: `-s, --long <value>`, `--flag`, or `--many <value...>`. */
export class Option {
  readonly flags: string;
  readonly description: string;
  readonly short: string | undefined;
  readonly long: string;
  readonly takesValue: boolean;
  mandatory = false;
  parser: Parser | undefined;
  defaultValue: unknown;
  allowed: readonly string[] | undefined;

  constructor(flags: string, description = "") {
    this.flags = flags;
    this.description = description;
    const match = /^(?:(-\w),\s*)?(--[\w-]+)(?:\s+[<[]([\w.-]+)[>\]])?$/.exec(flags.trim());
    if (!match) throw new TypeError(`Cannot parse option flags ${JSON.stringify(flags)}`);
    this.short = match[1];
    this.long = match[2]!;
    this.takesValue = match[3] !== undefined;
  }

  /** The key of the option's value: `--state-dir` is `stateDir`. */
  get key(): string {
    return this.long.slice(2).replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  }

  /** Restricts the value to these choices. */
  choices(values: readonly string[]): this {
    this.allowed = values;
    return this;
  }

  /** The value when the option is not given. */
  default(value: unknown): this {
    this.defaultValue = value;
    return this;
  }
}

interface Argument {
  name: string;
  required: boolean;
  variadic: boolean;
  description: string;
}

// deno-lint-ignore no-explicit-any
type Action = (...args: any[]) => unknown;

/** A command, or a group of subcommands. */
export class Command {
  readonly name: string;
  readonly commands: Command[] = [];
  readonly options: Option[] = [];
  parent: Command | undefined;
  #description = "";
  #arguments: Argument[] = [];
  #action: Action | undefined;
  #preAction: (() => void)[] = [];
  #values: Record<string, unknown> = {};

  constructor(name = "") {
    this.name = name;
  }

  description(text: string): this {
    this.#description = text;
    return this;
  }

  /** Adds and returns a new subcommand. */
  command(name: string): Command {
    const command = new Command(name);
    this.addCommand(command);
    return command;
  }

  addCommand(command: Command): this {
    command.parent = this;
    this.commands.push(command);
    return this;
  }

  /** Adds an option; the third argument is a parser `(value, previous)` or a default value. */
  option(
    flags: string,
    description = "",
    parserOrDefault?: Parser | unknown,
    defaultValue?: unknown,
  ): this {
    const option = new Option(flags, description);
    if (typeof parserOrDefault === "function") {
      option.parser = parserOrDefault as Parser;
      option.defaultValue = defaultValue;
    } else option.defaultValue = parserOrDefault;
    return this.addOption(option);
  }

  /** An option that must be given. */
  requiredOption(flags: string, description = "", parser?: Parser): this {
    this.option(flags, description, parser);
    this.options.at(-1)!.mandatory = true;
    return this;
  }

  addOption(option: Option): this {
    this.options.push(option);
    return this;
  }

  /** Declares a positional argument: `<name>`, `[name]`, `<name...>` or `[name...]`. */
  argument(spec: string, description = ""): this {
    const match = /^([<[])([\w-]+)(\.\.\.)?[>\]]$/.exec(spec);
    if (!match) throw new TypeError(`Cannot parse argument ${JSON.stringify(spec)}`);
    this.#arguments.push({
      name: match[2]!,
      required: match[1] === "<",
      variadic: !!match[3],
      description,
    });
    return this;
  }

  action(action: Action): this {
    this.#action = action;
    return this;
  }

  /** Runs `fn` before any action of this command or its subcommands. */
  hook(_event: "preAction", fn: () => void): this {
    this.#preAction.push(fn);
    return this;
  }

  /** The parsed option values of this command. */
  opts<T = Record<string, unknown>>(): T {
    return this.#values as T;
  }

  /** The help text. */
  helpInformation(): string {
    const path = [this.name];
    for (let c = this.parent; c; c = c.parent) path.unshift(c.name);
    const args = this.#arguments.map((
      a,
    ) => (a.required
      ? `<${a.name}${a.variadic ? "..." : ""}>`
      : `[${a.name}${a.variadic ? "..." : ""}]`)
    );
    const usage = [
      path.join(" "),
      "[options]",
      ...(this.commands.length > 0 ? ["[command]"] : args),
    ].join(" ");
    const rows = (pairs: [string, string][]) => {
      const width = Math.max(...pairs.map(([left]) => left.length)) + 2;
      return pairs.map(([left, right]) => `  ${left.padEnd(width)}${right}`.trimEnd()).join("\n");
    };
    const sections = [`Usage: ${usage}`];
    if (this.#description) sections.push(this.#description);
    if (this.#arguments.length > 0) {
      sections.push(`Arguments:\n${rows(this.#arguments.map((a) => [a.name, a.description]))}`);
    }
    const options: [string, string][] = this.options.map((o) => [
      o.flags,
      `${o.description}${
        o.allowed ? ` (choices: ${o.allowed.map((c) => `"${c}"`).join(", ")})` : ""
      }${o.defaultValue !== undefined ? ` (default: ${JSON.stringify(o.defaultValue)})` : ""}`,
    ]);
    options.push(["-h, --help", "display help for command"]);
    sections.push(`Options:\n${rows(options)}`);
    if (this.commands.length > 0) {
      const commands: [string, string][] = this.commands.map((
        c,
      ) => [c.#signature(), c.#description]);
      commands.push(["help [command]", "display help for command"]);
      sections.push(`Commands:\n${rows(commands)}`);
    }
    return `${sections.join("\n\n")}\n`;
  }

  /** Parses `argv` (the user's arguments) and runs the chosen action. @throws {UsageExit} */
  async parseAsync(argv: string[], _options?: { from: "user" }): Promise<void> {
    await this.#run(argv, []);
  }

  #signature(): string {
    const args = this.#arguments.map((
      a,
    ) => (a.required
      ? `<${a.name}${a.variadic ? "..." : ""}>`
      : `[${a.name}${a.variadic ? "..." : ""}]`)
    );
    return [this.name, ...(this.options.length > 0 ? ["[options]"] : []), ...args].join(" ");
  }

  #usageError(message: string): UsageExit {
    return new UsageExit(message, this.helpInformation(), 64);
  }

  #findOption(flag: string): { owner: Command; option: Option } | undefined {
    const chain: Command[] = [];
    for (let c = this.parent; c; c = c.parent) chain.push(c);
    for (const owner of [this as Command, ...chain]) {
      const option = owner.options.find((o) => o.long === flag || o.short === flag);
      if (option) return { owner, option };
    }
    return undefined;
  }

  async #run(argv: string[], ancestors: Command[]): Promise<void> {
    for (const option of this.options) {
      if (!(option.key in this.#values) && option.defaultValue !== undefined) {
        this.#values[option.key] = option.defaultValue;
      }
    }
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (arg === "--") {
        positional.push(...argv.slice(i + 1));
        break;
      }
      if (arg === "-h" || arg === "--help") throw new UsageExit("help", this.helpInformation(), 0);
      if (arg.startsWith("-") && arg.length > 1) {
        const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
        const flag = eq > 0 ? arg.slice(0, eq) : arg;
        const found = this.#findOption(flag);
        if (!found) throw this.#usageError(`unknown option '${arg}'`);
        const { owner, option } = found;
        if (!option.takesValue) {
          if (eq > 0) throw this.#usageError(`option '${option.flags}' takes no value`);
          owner.#values[option.key] = true;
          continue;
        }
        const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) {
          throw this.#usageError(`option '${option.flags}' argument missing`);
        }
        if (option.allowed && !option.allowed.includes(value)) {
          throw this.#usageError(
            `option '${option.flags}' argument '${value}' is invalid. Allowed choices are ${
              option.allowed.join(", ")
            }.`,
          );
        }
        const previous = owner.#values[option.key] === option.defaultValue
          ? undefined
          : owner.#values[option.key];
        owner.#values[option.key] = option.parser ? option.parser(value, previous) : value;
        continue;
      }
      if (this.commands.length > 0 && positional.length === 0) {
        if (arg === "help") {
          const target = argv[i + 1] === undefined
            ? this
            : this.commands.find((c) => c.name === argv[i + 1]);
          if (!target) throw this.#usageError(`unknown command '${argv[i + 1]}'`);
          throw new UsageExit("help", target.helpInformation(), 0);
        }
        const sub = this.commands.find((c) => c.name === arg);
        if (!sub) throw this.#usageError(`unknown command '${arg}'`);
        return await sub.#run(argv.slice(i + 1), [...ancestors, this]);
      }
      positional.push(arg);
    }
    if (this.commands.length > 0) {
      throw new UsageExit("a command is needed", this.helpInformation(), 64);
    }
    for (const option of this.options) {
      if (option.mandatory && this.#values[option.key] === undefined) {
        throw this.#usageError(`required option '${option.flags}' not specified`);
      }
    }
    const args: unknown[] = [];
    let next = 0;
    for (const spec of this.#arguments) {
      if (spec.variadic) {
        if (spec.required && next >= positional.length) {
          throw this.#usageError(`missing required argument '${spec.name}'`);
        }
        args.push(positional.slice(next));
        next = positional.length;
      } else {
        if (spec.required && next >= positional.length) {
          throw this.#usageError(`missing required argument '${spec.name}'`);
        }
        args.push(positional[next++]);
      }
    }
    if (next < positional.length) {
      throw this.#usageError(
        `too many arguments for '${this.name}'. Expected ${this.#arguments.length} argument${
          this.#arguments.length === 1 ? "" : "s"
        } but got ${positional.length}.`,
      );
    }
    for (const command of [...ancestors, this]) for (const hook of command.#preAction) hook();
    if (!this.#action) throw new UsageExit("nothing to do", this.helpInformation(), 64);
    await this.#action(...args, this.#values, this);
  }
}
