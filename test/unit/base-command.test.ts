// The base command's contract, with command classes run in-process (no build, no Docker): the JSON
// envelope, the exit code of every error class, usage errors, colour, and signals.
import {Config, Flags} from '@oclif/core'
import {afterEach, beforeAll, beforeEach, describe, expect, it, vi} from 'vitest'

import {AgnesCommand} from '../../src/base-command.js'
import Pin from '../../src/commands/pin.js'
import Up from '../../src/commands/up.js'
import Upgrade from '../../src/commands/upgrade.js'
import {AgnesError, ERROR_CATALOGUE, ExitCode, InterruptedError, NotFoundError} from '../../src/lib/errors.js'
import {repoRoot} from '../helpers/run-cli.js'

const SECRET = 'hunter2-InProcess-Secret-51c7'
const ANSI = /\u001B\[/

/** What a test command does, set by the test before it runs the command. */
let behaviour: (command: Probe) => Promise<object> = async () => ({greeting: 'hello'})

class Probe extends AgnesCommand<typeof Probe> {
  static description = 'A command that does what the test says.'
  static flags = {name: Flags.string({description: 'A name.', options: ['ada', 'grace']})}

  public get aborted(): AbortSignal {
    return this.signal
  }

  protected async execute(): Promise<object> {
    return behaviour(this)
  }

  protected render(result: object): void {
    this.out(`${this.paint('green', 'done')} ${JSON.stringify(result)}`)
  }
}

let config: Config
let stdout: string
let stderr: string

interface Outcome {
  exitCode: number
  stdout: string
  stderr: string
  json: any
}

async function run(command: {run(argv: string[], config: Config): Promise<unknown>}, argv: string[]): Promise<Outcome> {
  await command.run(argv, config)
  const exitCode = Number(process.exitCode ?? 0)
  let json: any
  try {
    json = JSON.parse(stdout)
  } catch {
    json = undefined
  }

  return {exitCode, json, stderr, stdout}
}

beforeAll(async () => {
  config = await Config.load({root: repoRoot})
})

beforeEach(() => {
  stdout = ''
  stderr = ''
  process.exitCode = undefined
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString()
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString()
    return true
  })
  for (const name of ['NO_COLOR', 'FORCE_COLOR', 'TERM', 'CI', 'DEBUG']) vi.stubEnv(name, undefined)
  vi.stubEnv('NODE_ENV', 'production')
})

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
  behaviour = async () => ({greeting: 'hello'})
  process.exitCode = undefined
})

describe('the JSON envelope', () => {
  it('a success is {ok: true, result, warnings} on stdout, nothing else, exit 0', async () => {
    behaviour = async (command) => {
      command['reporter'].warn('disk is low')
      command['reporter'].progress('working…')
      return {greeting: 'hello'}
    }

    const outcome = await run(Probe, ['--json'])
    expect(outcome.exitCode).toBe(0)
    expect(outcome.json).toEqual({ok: true, result: {greeting: 'hello'}, warnings: ['disk is low']})
    expect(outcome.stderr).not.toContain('disk is low')
    expect(outcome.stdout).not.toMatch(ANSI)
  })

  it('an error is {ok: false, error: {code, message, hint, exitCode}} with the result it carries', async () => {
    behaviour = async () => {
      throw new NotFoundError('no such version', {hint: 'List the versions.', result: {outcome: 'failed'}})
    }

    const outcome = await run(Probe, ['--json'])
    expect(outcome.exitCode).toBe(6)
    expect(outcome.json).toEqual({
      error: {code: 'E_NOT_FOUND', exitCode: 6, hint: 'List the versions.', message: 'no such version'},
      ok: false,
      result: {outcome: 'failed'},
    })
  })

  it('without --json the result goes to stdout for a person and an error to stderr', async () => {
    const ok = await run(Probe, [])
    expect(ok).toMatchObject({exitCode: 0, stderr: '', stdout: 'done {"greeting":"hello"}\n'})

    stdout = ''
    behaviour = async () => {
      throw new NotFoundError('no such version', {hint: 'List the versions.'})
    }

    const failed = await run(Probe, [])
    expect(failed).toMatchObject({exitCode: 6, stderr: 'Error [E_NOT_FOUND]: no such version\nHint: List the versions.\n', stdout: ''})
  })
})

describe('every error class ends with its exit code', () => {
  it.each(ERROR_CATALOGUE.map((entry) => [entry.code, entry]))('%s', async (_code, entry) => {
    const ErrorClass = entry.errorClass as unknown as new (...args: string[]) => AgnesError
    behaviour = async () => {
      throw new ErrorClass('what went wrong', 'more')
    }

    const outcome = await run(Probe, ['--json'])
    expect(outcome.exitCode).toBe(entry.exitCode)
    expect(outcome.json.error).toMatchObject({code: entry.code, exitCode: entry.exitCode})
  })

  it('anything else is a bug: exit 1, E_INTERNAL, and a hint to report it', async () => {
    behaviour = async () => {
      throw new TypeError('undefined is not a function')
    }

    const outcome = await run(Probe, ['--json'])
    expect(outcome.exitCode).toBe(ExitCode.INTERNAL)
    expect(outcome.json.error).toMatchObject({code: 'E_INTERNAL', exitCode: 1, message: 'undefined is not a function'})
    expect(outcome.json.error.hint).toContain('bug')
  })
})

describe('usage errors are exit 2, with one hint and no value echoed', () => {
  it.each([
    {argv: ['--nosuch'], command: Up, message: 'Unknown flag --nosuch'},
    {argv: [`--nosuch=${SECRET}`], command: Up, message: 'Unknown flag --nosuch'},
    {argv: ['--channel', SECRET], command: Upgrade, message: '--channel must be one of: stable, dev'},
    {argv: [`--health-timeout=${SECRET}`], command: Upgrade, message: '--health-timeout: expected an integer'},
    {argv: ['stable-2026.04.3', SECRET], command: Pin, message: expect.stringMatching(/^1 unexpected argument \(not shown/)},
    {argv: [SECRET], command: Up, message: expect.stringMatching(/^1 unexpected argument \(not shown/)},
  ])('$command.name $argv.0', async ({argv, command, message}) => {
    const plain = await run(command, argv)
    expect(plain.exitCode).toBe(2)
    expect(plain.stdout).toBe('')
    expect(plain.stderr).not.toContain(SECRET)
    const lines = plain.stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    expect(lines[0]).toBe(`Error [E_USAGE]: ${typeof message === 'string' ? message : lines[0].slice(17)}`)
    expect(lines[1]).toMatch(/^Hint: .*See `agnes \S+ --help`\.$/)

    stdout = ''
    stderr = ''
    process.exitCode = undefined
    const json = await run(command, [...argv, '--json'])
    expect(json.exitCode).toBe(2)
    expect(json.stdout).not.toContain(SECRET)
    expect(json.json).toEqual({ok: false, error: {code: 'E_USAGE', exitCode: 2, hint: expect.stringContaining('--help'), message}})
    expect(json.stderr).toBe('')
  })

  it('a flag value outside its options is a usage error of a test command too', async () => {
    const outcome = await run(Probe, ['--name', SECRET, '--json'])
    expect(outcome.exitCode).toBe(2)
    expect(outcome.json.error).toMatchObject({code: 'E_USAGE', message: '--name must be one of: ada, grace'})
    expect(outcome.stdout).not.toContain(SECRET)
  })
})

describe('colour', () => {
  const streams = [process.stdout, process.stderr]
  const original = streams.map((stream) => Object.getOwnPropertyDescriptor(stream, 'isTTY'))

  function terminal(isTTY: boolean) {
    for (const stream of streams) Object.defineProperty(stream, 'isTTY', {configurable: true, value: isTTY})
  }

  afterEach(() => {
    for (const [index, stream] of streams.entries()) {
      const descriptor = original[index]
      if (descriptor) Object.defineProperty(stream, 'isTTY', descriptor)
      else delete (stream as {isTTY?: boolean}).isTTY
    }
  })

  it('is on in a terminal, for the result and for an error', async () => {
    terminal(true)
    expect((await run(Probe, [])).stdout).toMatch(ANSI)

    behaviour = async () => {
      throw new NotFoundError('gone')
    }

    expect((await run(Probe, [])).stderr).toMatch(ANSI)
  })

  it.each([
    {argv: [], env: {}, isTTY: false, name: 'not a terminal (cron, a pipe)'},
    {argv: [], env: {NO_COLOR: '1'}, isTTY: true, name: 'NO_COLOR'},
    {argv: ['--no-color'], env: {}, isTTY: true, name: '--no-color'},
    {argv: [], env: {TERM: 'dumb'}, isTTY: true, name: 'TERM=dumb'},
  ])('is off with $name', async ({argv, env, isTTY}) => {
    terminal(isTTY)
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value)
    const ok = await run(Probe, argv)
    expect(ok.stdout).toBe('done {"greeting":"hello"}\n')

    behaviour = async () => {
      throw new NotFoundError('gone', {hint: 'Look elsewhere.'})
    }

    const failed = await run(Probe, argv)
    expect(failed.stderr).toBe('Error [E_NOT_FOUND]: gone\nHint: Look elsewhere.\n')
  })
})

describe('signals', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s aborts the work and ends with exit 130 (E_INTERRUPTED)', async (signal) => {
    const before = new Set(process.listeners(signal))
    behaviour = (command) =>
      new Promise((_resolve, reject) => {
        command.aborted.addEventListener('abort', () => reject(command.aborted.reason))
        const handler = process.listeners(signal).find((listener) => !before.has(listener))
        handler?.call(process, signal)
      })

    const outcome = await run(Probe, ['--json'])
    expect(outcome.exitCode).toBe(130)
    expect(outcome.json.error).toMatchObject({code: 'E_INTERRUPTED', exitCode: 130, message: `Interrupted by ${signal}`})
    expect(outcome.stderr).toContain(`Received ${signal}; stopping`)
    // The handlers are gone once the command has ended.
    expect(process.listeners(signal).filter((listener) => !before.has(listener))).toEqual([])
  })

  it('an error thrown after the abort is reported as the interruption, not as itself', async () => {
    behaviour = (command) =>
      new Promise((_resolve, reject) => {
        command.aborted.addEventListener('abort', () => reject(new Error('socket hang up')))
        process.listeners('SIGINT').at(-1)?.call(process, 'SIGINT')
      })

    const outcome = await run(Probe, [])
    expect(outcome.exitCode).toBe(130)
    expect(outcome.stderr).toContain('Error [E_INTERRUPTED]: Interrupted by SIGINT')
    expect(outcome.stderr).not.toContain('socket hang up')
  })

  it('InterruptedError from a prompt (Ctrl-C) is exit 130 too', async () => {
    behaviour = async () => {
      throw Object.assign(new Error('User force closed the prompt'), {name: 'ExitPromptError'})
    }

    const outcome = await run(Probe, ['--json'])
    expect(outcome.exitCode).toBe(new InterruptedError().exitCode)
    expect(outcome.json.error.code).toBe('E_INTERRUPTED')
  })
})
