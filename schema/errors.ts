/** Error codes a caller must handle. Exit codes and HTTP statuses map from these, never from text. */
export type ErrorCode =
  | "ERR_CONFIG_INVALID"
  | "ERR_CONFIG_MISSING"
  | "ERR_TRANSPORT_NOT_FOUND"
  | "ERR_TRANSPORT_EXISTS"
  | "ERR_TRANSPORT_INVALID"
  | "ERR_CHANNEL_NOT_FOUND"
  | "ERR_CHANNEL_AMBIGUOUS"
  | "ERR_CHANNEL_EXISTS"
  | "ERR_CHANNEL_INVALID"
  | "ERR_MESSAGE_NOT_FOUND"
  | "ERR_MESSAGE_AMBIGUOUS"
  | "ERR_MESSAGE_INVALID"
  | "ERR_MESSAGE_TOO_LARGE"
  | "ERR_ID_INVALID"
  | "ERR_UNKNOWN_MODEL"
  | "ERR_AMBIGUOUS_MODEL"
  | "ERR_ADDRESS_INVALID"
  | "ERR_GIT_FAILED"
  | "ERR_REMOTE_CONFLICT"
  | "ERR_TIMEOUT"
  | "ERR_ENGINE_RUNNING"
  | "ERR_STATE_UNWRITABLE"
  | "ERR_PORT_IN_USE"
  | "ERR_USER_NOT_FOUND"
  | "ERR_USER_EXISTS"
  | "ERR_USER_INVALID"
  | "ERR_LOGIN_FAILED"
  | "ERR_TOKEN_INVALID"
  | "ERR_TOKEN_EXPIRED"
  | "ERR_TOKEN_REVOKED"
  | "ERR_TOKEN_NOT_FOUND"
  | "ERR_UNAUTHENTICATED"
  | "ERR_FORBIDDEN"
  | "ERR_BODY_INVALID"
  | "ERR_BODY_TOO_LARGE"
  | "ERR_ROUTE_NOT_FOUND"
  | "ERR_RATE_LIMITED"
  | "ERR_SERVICE_EXISTS"
  | "ERR_SERVICE_FAILED"
  | "ERR_ENGINE_START_FAILED"
  | "ERR_AGENT_NOT_FOUND"
  | "ERR_TASK_CONFLICT"
  | "ERR_WORKFLOW_INVALID"
  | "ERR_USAGE";

/** The one base of every error a caller of crosstalk is expected to handle. */
export class CrosstalkError extends Error {
  /** A stable identifier of the condition, e.g. `ERR_CONFIG_INVALID`. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CrosstalkError";
    this.code = code;
  }
}

/** The message of a thrown value, whatever was thrown. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The error an HTTP API answer names (`{"error":{"code","message"}}`), for the API's clients; an
 * answer without that shape is `ERR_TIMEOUT` with its HTTP status.
 */
export function errorFromApi(status: number, body: unknown): CrosstalkError {
  const error = (body as { error?: { code?: ErrorCode; message?: string } } | null)?.error;
  return new CrosstalkError(error?.code ?? "ERR_TIMEOUT", error?.message ?? `HTTP ${status}`);
}

/** One problem found in a document, with its position when known. */
export interface Problem {
  /** The file the problem is in, relative to the transport when possible. */
  file: string;
  /** 1-based line, 0 when unknown. */
  line: number;
  /** 1-based column, 0 when unknown. */
  column: number;
  /** The path inside the document, e.g. `providers.openrouter.models.qwen`. */
  path: string;
  /** What is wrong, as a sentence fragment. */
  message: string;
}

/** Formats a problem the way every crosstalk error names a position: `file 12:5: path must be …`. */
export function formatProblem(problem: Problem): string {
  const where = problem.line > 0 ? ` ${problem.line}:${problem.column}` : "";
  // A fragment ("must be a string") reads on from the path; a sentence (a YAML syntax error)
  // gets the path as a label.
  const sentence = /^[A-Z]/.test(problem.message);
  const path = problem.path ? (sentence ? `${problem.path}: ` : `${problem.path} `) : "";
  return `"${problem.file}"${where}: ${path}${problem.message}`;
}

/** A config or message document that failed validation; carries every problem found. */
export class InvalidDocumentError extends CrosstalkError {
  readonly problems: Problem[];

  constructor(
    code: ErrorCode,
    what: string,
    problems: Problem[],
    options?: ErrorOptions,
  ) {
    const lines = problems.map(formatProblem);
    const head = problems.length === 1
      ? `Cannot load ${lines[0]}`
      : `Cannot load ${what}: ${problems.length} problems\n  ${lines.join("\n  ")}`;
    super(code, head, options);
    this.name = "InvalidDocumentError";
    this.problems = problems;
  }
}
