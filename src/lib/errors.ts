/**
 * Typed errors and the exit-code contract of PRODUCT.md ("Outcome contract").
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

export class DockerError extends AgnesError {
  constructor(message: string, options?: AgnesErrorOptions) {
    super('E_DOCKER', ExitCode.DOCKER, message, options)
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
  constructor(code: 'E_LOCKED' | 'E_DEFERRED', message: string, options?: AgnesErrorOptions) {
    super(code, ExitCode.TRY_LATER, message, options)
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
