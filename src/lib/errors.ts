/**
 * Typed errors and the exit-code contract (docs/design.md#the-outcome-contract, README "Exit codes").
 * Every failure a user can meet is an AgnesError with a stable code, an exit code and a hint.
 */

export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  INVALID: 3,
  INPUT_REQUIRED: 4,
  AUTH: 5,
  NOT_FOUND: 6,
  CONFLICT: 7,
  UNREACHABLE: 8,
  DOCKER: 9,
  ROLLED_BACK: 10,
  ROLLBACK_FAILED: 11,
  TRY_LATER: 75,
  INTERRUPTED: 130,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** The exit-code table, shown in the README and in every command's --help. */
export const EXIT_CODE_TABLE: ReadonlyArray<[number, string]> = [
  [0, 'success, including "already up to date" and "pinned, nothing to do"'],
  [1, 'unexpected internal error (a bug)'],
  [2, 'usage error (unknown flag, bad argument)'],
  [3, 'invalid input or configuration'],
  [4, 'input required but running non-interactively (the message names the flag)'],
  [5, 'authentication or authorisation failed'],
  [6, 'not found (version, tag, table)'],
  [7, 'conflict (e.g. an API 409 that needs a decision)'],
  [8, 'instance or registry unreachable (retryable)'],
  [9, 'Docker engine or compose failed'],
  [10, 'upgrade failed and was rolled back: the previous version is running and healthy'],
  [11, 'upgrade failed and the rollback failed too: a person is needed'],
  [75, 'try again later: lock held, or upgrade deferred while the instance is busy'],
  [130, 'interrupted'],
]

export interface AgnesErrorOptions {
  hint?: string
  details?: Record<string, unknown>
  cause?: unknown
  /** A command result that still belongs in the JSON envelope (e.g. upgrade's outcome). */
  result?: unknown
}

export class AgnesError extends Error {
  readonly code: string
  readonly exitCode: number
  readonly hint?: string
  readonly details?: Record<string, unknown>
  readonly result?: unknown

  constructor(code: string, exitCode: number, message: string, options: AgnesErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'AgnesError'
    this.code = code
    this.exitCode = exitCode
    this.hint = options.hint
    this.details = options.details
    this.result = options.result
  }
}

export class InternalError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_INTERNAL', ExitCode.INTERNAL, message, options)
  }
}

export class UsageError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_USAGE', ExitCode.USAGE, message, options)
  }
}

export class InvalidInputError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_INVALID', ExitCode.INVALID, message, options)
  }
}

export class InputRequiredError extends AgnesError {
  constructor(flag: string, what: string, options: AgnesErrorOptions = {}) {
    super('E_INPUT_REQUIRED', ExitCode.INPUT_REQUIRED, `${what} is required: pass ${flag} (running non-interactively, so there is no prompt)`, {
      hint: options.hint ?? `Re-run with ${flag}, or run in a terminal to be asked.`,
      ...options,
      details: {flag, ...options.details},
    })
  }
}

export class AuthError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_AUTH', ExitCode.AUTH, message, options)
  }
}

export class NotFoundError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_NOT_FOUND', ExitCode.NOT_FOUND, message, options)
  }
}

export class ConflictError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_CONFLICT', ExitCode.CONFLICT, message, options)
  }
}

export class UnreachableError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_UNREACHABLE', ExitCode.UNREACHABLE, message, options)
  }
}

/** A 2xx answer that is not what the endpoint promises: an old Agnes version or not Agnes at all. */
export class UnexpectedAnswerError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_UNEXPECTED_ANSWER', ExitCode.UNREACHABLE, message, options)
  }
}

export class DockerError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_DOCKER', ExitCode.DOCKER, message, options)
  }
}

/** Not enough free disk for an image pull or a state backup; checked before anything changes. */
export class DiskFullError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_DISK_FULL', ExitCode.DOCKER, message, options)
  }
}

/** The app container exited, restarted, or did not report itself healthy in time. */
export class UnhealthyError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_UNHEALTHY', ExitCode.DOCKER, message, options)
  }
}

/** The instance answers, but a smoke check failed; retrying unchanged will not help. */
export class SmokeFailedError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_SMOKE_FAILED', ExitCode.INVALID, message, options)
  }
}

/** One smoke check of a reachable instance failed: the instance's fault, not the network's. */
export class SmokeCheckError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_SMOKE_CHECK', ExitCode.INVALID, message, options)
  }
}

/** The instance ran the sync and it failed, which is almost always the data source configuration. */
export class SyncFailedError extends AgnesError {
  constructor(message: string, options: AgnesErrorOptions = {}) {
    super('E_SYNC_FAILED', ExitCode.INVALID, message, {
      ...options,
      hint: 'Check the data source settings (URL, token, project) and the app log; fix them and re-run with --sync --wait.',
    })
  }
}

export class RolledBackError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_ROLLED_BACK', ExitCode.ROLLED_BACK, message, options)
  }
}

export class RollbackFailedError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_ROLLBACK_FAILED', ExitCode.ROLLBACK_FAILED, message, options)
  }
}

export class TryLaterError extends AgnesError {
  constructor(code: 'E_LOCKED' | 'E_DEFERRED' | 'E_WAIT_TIMEOUT' | 'E_RATE_LIMITED', message: string, options?: AgnesErrorOptions) {
    super(code, ExitCode.TRY_LATER, message, options)
  }
}

/** Another agnes run holds the instance lock. */
export class LockedError extends TryLaterError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_LOCKED', message, options)
  }
}

/** The instance is busy (a sync runs), so the upgrade waits for a later run. */
export class DeferredError extends TryLaterError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_DEFERRED', message, options)
  }
}

/** A job or sync on the instance is still running when agnes stopped waiting for it; it keeps running. */
export class WaitTimeoutError extends TryLaterError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_WAIT_TIMEOUT', message, options)
  }
}

/** The instance answered 429 Too Many Requests. */
export class RateLimitedError extends TryLaterError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_RATE_LIMITED', message, options)
  }
}

export class InterruptedError extends AgnesError {
  constructor(message = 'Interrupted', options?: AgnesErrorOptions) {
    super('E_INTERRUPTED', ExitCode.INTERRUPTED, message, options)
  }
}

/** A managed path of the instance is a symbolic link: agnes never reads, writes or chmods through one. */
export class UnsafePathError extends AgnesError {
  constructor(path: string, target?: string, options: AgnesErrorOptions = {}) {
    super('E_UNSAFE_PATH', ExitCode.INVALID, `${path} is a symbolic link${target === undefined ? '' : ` (to ${target})`}; agnes does not follow links inside an instance directory`, {
      hint: 'Replace the link with a real file or directory inside the instance directory, then re-run.',
      ...options,
      details: {path, ...options.details},
    })
  }
}

/** Turns anything thrown into an AgnesError; unknown errors become E_INTERNAL (a bug). */
export function toAgnesError(error: unknown): AgnesError {
  if (error instanceof AgnesError) return error
  if (error instanceof Error) {
    const name = error.name
    if (name === 'ExitPromptError' || name === 'AbortPromptError' || name === 'AbortError') {
      return new InterruptedError('Interrupted', {cause: error})
    }
    return new InternalError(error.message || String(error), {
      cause: error,
      hint: 'This is a bug in agnes. Re-run with DEBUG=agnes to see the stack trace, and report it.',
    })
  }
  return new InternalError(String(error))
}

/** The Caddy configuration (Caddyfile, TLS settings in .env, certificate files) would not load. */
export class ProxyConfigError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_PROXY_CONFIG', ExitCode.INVALID, message, options)
  }
}

/** One error code of the catalogue: the class that carries it, its exit code and what it means. */
export interface ErrorCodeEntry {
  code: string
  exitCode: ExitCodeValue
  meaning: string
  errorClass: abstract new (...args: never[]) => AgnesError
}

/**
 * Every error code agnes can end with. The README's exit-code table and every command's --help are checked
 * against this list (test/unit/errors.test.ts).
 */
export const ERROR_CATALOGUE: readonly ErrorCodeEntry[] = [
  {code: 'E_INTERNAL', errorClass: InternalError, exitCode: ExitCode.INTERNAL, meaning: 'a bug in agnes'},
  {code: 'E_USAGE', errorClass: UsageError, exitCode: ExitCode.USAGE, meaning: 'unknown command, flag or argument, or a value outside its options'},
  {code: 'E_INVALID', errorClass: InvalidInputError, exitCode: ExitCode.INVALID, meaning: 'a value or a file of the instance is not valid'},
  {code: 'E_UNSAFE_PATH', errorClass: UnsafePathError, exitCode: ExitCode.INVALID, meaning: 'a managed path of the instance is a symbolic link'},
  {code: 'E_PROXY_CONFIG', errorClass: ProxyConfigError, exitCode: ExitCode.INVALID, meaning: 'the Caddy configuration or its certificate files would not load'},
  {code: 'E_SMOKE_FAILED', errorClass: SmokeFailedError, exitCode: ExitCode.INVALID, meaning: 'the instance answers but a smoke check failed'},
  {code: 'E_SMOKE_CHECK', errorClass: SmokeCheckError, exitCode: ExitCode.INVALID, meaning: 'one smoke check failed (a step of the smoke report; the command ends with E_SMOKE_FAILED)'},
  {code: 'E_SYNC_FAILED', errorClass: SyncFailedError, exitCode: ExitCode.INVALID, meaning: 'the instance ran the sync and it failed'},
  {code: 'E_INPUT_REQUIRED', errorClass: InputRequiredError, exitCode: ExitCode.INPUT_REQUIRED, meaning: 'a value is missing and there is no terminal to ask; the message names the flag'},
  {code: 'E_AUTH', errorClass: AuthError, exitCode: ExitCode.AUTH, meaning: 'the instance or the registry refused the credential'},
  {code: 'E_NOT_FOUND', errorClass: NotFoundError, exitCode: ExitCode.NOT_FOUND, meaning: 'a version, tag, image, table or backup does not exist'},
  {code: 'E_CONFLICT', errorClass: ConflictError, exitCode: ExitCode.CONFLICT, meaning: 'the request conflicts with the current state and needs a decision'},
  {code: 'E_UNREACHABLE', errorClass: UnreachableError, exitCode: ExitCode.UNREACHABLE, meaning: 'the instance or the registry did not answer'},
  {code: 'E_UNEXPECTED_ANSWER', errorClass: UnexpectedAnswerError, exitCode: ExitCode.UNREACHABLE, meaning: 'the URL answered, but not as an Agnes instance of this version does'},
  {code: 'E_DOCKER', errorClass: DockerError, exitCode: ExitCode.DOCKER, meaning: 'the Docker engine or Compose failed'},
  {code: 'E_DISK_FULL', errorClass: DiskFullError, exitCode: ExitCode.DOCKER, meaning: 'not enough free disk for an image pull or a state backup'},
  {code: 'E_UNHEALTHY', errorClass: UnhealthyError, exitCode: ExitCode.DOCKER, meaning: 'the app container exited, restarted or did not become healthy in time'},
  {code: 'E_ROLLED_BACK', errorClass: RolledBackError, exitCode: ExitCode.ROLLED_BACK, meaning: 'the new version failed; the previous one runs again and is healthy'},
  {code: 'E_ROLLBACK_FAILED', errorClass: RollbackFailedError, exitCode: ExitCode.ROLLBACK_FAILED, meaning: 'the new version failed and so did the way back: a person is needed'},
  {code: 'E_LOCKED', errorClass: LockedError, exitCode: ExitCode.TRY_LATER, meaning: 'another agnes run holds the instance lock'},
  {code: 'E_DEFERRED', errorClass: DeferredError, exitCode: ExitCode.TRY_LATER, meaning: 'the instance is busy, so the upgrade waits for a later run'},
  {code: 'E_WAIT_TIMEOUT', errorClass: WaitTimeoutError, exitCode: ExitCode.TRY_LATER, meaning: 'a job or sync still runs on the instance after the wait timeout'},
  {code: 'E_RATE_LIMITED', errorClass: RateLimitedError, exitCode: ExitCode.TRY_LATER, meaning: 'the instance rate-limits this endpoint'},
  {code: 'E_INTERRUPTED', errorClass: InterruptedError, exitCode: ExitCode.INTERRUPTED, meaning: 'stopped by Ctrl-C, SIGINT or SIGTERM'},
]
