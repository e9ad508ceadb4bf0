// readSecret: a secret given through an environment variable, a file or stdin is one line; anything else is
// refused (exit 3), naming where it came from and never showing the value.
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {AgnesError} from '../../../src/lib/errors.js'
import {clearSecrets} from '../../../src/lib/secrets/redact.js'
import {SecretSource, readSecret} from '../../../src/lib/secrets/input.js'

const SOURCE: SecretSource = {envVar: 'AGNES_TOKEN', fileFlag: '--token-file', label: 'API token', stdinFlag: '--token-stdin'}
const VALUE = 'token-value-8f2c41'

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agnes-secret-input-'))
})

afterEach(async () => {
  clearSecrets()
  await rm(dir, {force: true, recursive: true})
})

async function refused(promise: Promise<unknown>): Promise<AgnesError> {
  const error = await promise.then(
    () => undefined,
    (error_: unknown) => error_,
  )
  expect(error).toBeInstanceOf(AgnesError)
  return error as AgnesError
}

function expectNamedNotShown(error: AgnesError, where: string): void {
  expect(error.exitCode).toBe(3)
  expect(error.message).toContain(where)
  expect(`${error.message} ${error.hint}`).not.toContain(VALUE)
  expect(`${error.message} ${error.hint}`).not.toContain('second')
}

describe('readSecret', () => {
  it('takes a file with one trailing newline (LF or CRLF), stdin the same, and the environment as it is', async () => {
    for (const [name, text] of [
      ['lf', `${VALUE}\n`],
      ['crlf', `${VALUE}\r\n`],
      ['bare', VALUE],
    ]) {
      await writeFile(join(dir, name), text)
      expect(await readSecret({...SOURCE, file: join(dir, name)}, {env: {}, required: true})).toBe(VALUE)
    }

    expect(await readSecret({...SOURCE, fromStdin: true}, {env: {}, required: true, stdin: Readable.from([`${VALUE}\n`])})).toBe(VALUE)
    expect(await readSecret(SOURCE, {env: {AGNES_TOKEN: VALUE}, required: true})).toBe(VALUE)
  })

  it.each([
    ['a newline', `${VALUE}\nsecond`],
    ['a trailing newline', `${VALUE}\n`],
    ['a carriage return', `${VALUE}\rsecond`],
    ['a tab', `${VALUE}\tsecond`],
    ['a NUL', `${VALUE}\u0000second`],
    ['DEL', `${VALUE}\u007Fsecond`],
  ])('refuses %s in the environment variable, naming it', async (_name, value) => {
    expectNamedNotShown(await refused(readSecret(SOURCE, {env: {AGNES_TOKEN: value}, required: true})), 'AGNES_TOKEN')
  })

  it.each([
    ['a second line', `${VALUE}\nsecond\n`],
    ['two trailing newlines', `${VALUE}\n\n`],
    ['a tab', `${VALUE}\tsecond\n`],
    ['an escape sequence', `${VALUE}\u001b[2Jsecond`],
  ])('refuses %s in a file, naming the file and its flag', async (_name, text) => {
    const file = join(dir, 'token')
    await writeFile(file, text)
    const error = await refused(readSecret({...SOURCE, file}, {env: {}, required: true}))
    expectNamedNotShown(error, file)
    expect(error.message).toContain('--token-file')
  })

  it('refuses a second line on stdin, naming the flag', async () => {
    const error = await refused(readSecret({...SOURCE, fromStdin: true}, {env: {}, required: true, stdin: Readable.from([`${VALUE}\nsecond\n`])}))
    expectNamedNotShown(error, '--token-stdin')
  })
})
