import {describe, expect, it} from 'vitest'

import {
  AgnesError,
  AuthError,
  ConflictError,
  DockerError,
  EXIT_CODE_TABLE,
  ExitCode,
  InputRequiredError,
  InternalError,
  InterruptedError,
  InvalidInputError,
  NotFoundError,
  RollbackFailedError,
  RolledBackError,
  TryLaterError,
  UnreachableError,
  UsageError,
  toAgnesError,
} from '../../src/lib/errors.js'

/** The outcome contract (docs/design.md#the-outcome-contract), copied by hand: a change to either side must be deliberate. */
const PRODUCT_EXIT_CODES: Array<[number, string]> = [
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

describe('exit-code contract', () => {
  it('EXIT_CODE_TABLE is exactly the table of the outcome contract, in order', () => {
    expect(EXIT_CODE_TABLE.map(([code, text]) => [code, text])).toEqual(PRODUCT_EXIT_CODES)
  })

  it('ExitCode names the same codes', () => {
    expect(Object.values(ExitCode).sort((a, b) => a - b)).toEqual(PRODUCT_EXIT_CODES.map(([code]) => code))
  })

  it.each([
    [new InternalError('x'), 1, 'E_INTERNAL'],
    [new UsageError('x'), 2, 'E_USAGE'],
    [new InvalidInputError('x'), 3, 'E_INVALID'],
    [new InputRequiredError('--flag', 'Thing'), 4, 'E_INPUT_REQUIRED'],
    [new AuthError('x'), 5, 'E_AUTH'],
    [new NotFoundError('x'), 6, 'E_NOT_FOUND'],
    [new ConflictError('x'), 7, 'E_CONFLICT'],
    [new UnreachableError('x'), 8, 'E_UNREACHABLE'],
    [new DockerError('x'), 9, 'E_DOCKER'],
    [new RolledBackError('x'), 10, 'E_ROLLED_BACK'],
    [new RollbackFailedError('x'), 11, 'E_ROLLBACK_FAILED'],
    [new TryLaterError('E_LOCKED', 'x'), 75, 'E_LOCKED'],
    [new TryLaterError('E_DEFERRED', 'x'), 75, 'E_DEFERRED'],
    [new InterruptedError(), 130, 'E_INTERRUPTED'],
  ])('%s has exit %i and code %s', (error, exitCode, code) => {
    expect(error).toBeInstanceOf(AgnesError)
    expect(error.exitCode).toBe(exitCode)
    expect(error.code).toBe(code)
  })

  it('InputRequiredError names the flag in the message, the hint and the details', () => {
    const error = new InputRequiredError('--admin-email', 'Admin email')
    expect(error.message).toContain('--admin-email')
    expect(error.message).toContain('Admin email')
    expect(error.hint).toContain('--admin-email')
    expect(error.details).toEqual({flag: '--admin-email'})
  })
})

describe('toAgnesError', () => {
  function named(name: string, message = 'User force closed the prompt'): Error {
    const error = new Error(message)
    error.name = name
    return error
  }

  it('maps Inquirer ExitPromptError and AbortPromptError (and AbortError) to exit 130', () => {
    for (const name of ['ExitPromptError', 'AbortPromptError', 'AbortError']) {
      const mapped = toAgnesError(named(name))
      expect(mapped).toBeInstanceOf(InterruptedError)
      expect(mapped.exitCode).toBe(130)
      expect(mapped.code).toBe('E_INTERRUPTED')
    }
  })

  it('maps a DOMException AbortError (an aborted signal) to exit 130', () => {
    const controller = new AbortController()
    controller.abort()
    expect(toAgnesError(controller.signal.reason).exitCode).toBe(130)
  })

  it('returns an AgnesError unchanged', () => {
    const original = new NotFoundError('no such tag')
    expect(toAgnesError(original)).toBe(original)
  })

  it('maps an unknown Error to exit 1 keeping its message and cause', () => {
    const cause = new TypeError('cannot read properties of undefined')
    const mapped = toAgnesError(cause)
    expect(mapped).toBeInstanceOf(InternalError)
    expect(mapped.exitCode).toBe(1)
    expect(mapped.code).toBe('E_INTERNAL')
    expect(mapped.message).toBe('cannot read properties of undefined')
    expect(mapped.cause).toBe(cause)
    expect(mapped.hint).toMatch(/bug/)
  })

  it('maps thrown non-errors to exit 1', () => {
    expect(toAgnesError('a string').exitCode).toBe(1)
    expect(toAgnesError('a string').message).toBe('a string')
    expect(toAgnesError(undefined).exitCode).toBe(1)
    expect(toAgnesError({weird: true}).exitCode).toBe(1)
    expect(toAgnesError(new Error('')).exitCode).toBe(1)
  })
})
