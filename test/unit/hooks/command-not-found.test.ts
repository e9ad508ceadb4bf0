// An unknown command, run through the hook oclif calls: one usage error (exit 2), one hint, no stray value.
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import hook from '../../../src/hooks/command-not-found.js'

const SECRET = 'hunter2-Hook-Secret-0b3e'
const config = {commands: ['init', 'up', 'status', 'schedule:install', 'schedule:status', 'secret-admin'].map((id) => ({hidden: id === 'secret-admin', id}))}
let stdout = ''
let stderr = ''

async function notFound(id: string, argv: string[] = []) {
  // The hook reads only the command list of the config.
  await hook.call({} as never, {argv, config, id} as never)
  return {exitCode: process.exitCode, stderr, stdout}
}

beforeEach(() => {
  stdout = ''
  stderr = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString()
    return true
  })
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString()
    return true
  })
})

afterEach(() => {
  vi.restoreAllMocks()
  process.exitCode = undefined
})

describe('command_not_found hook', () => {
  it('suggests the command meant, with spaces as the user types them', async () => {
    const outcome = await notFound('schedule:instal')
    expect(outcome).toEqual({exitCode: 2, stderr: 'Error [E_USAGE]: Unknown command schedule instal\nHint: Did you mean `agnes schedule install`? See `agnes --help`.\n', stdout: ''})
  })

  it('lists the visible commands when nothing is close', async () => {
    const {stderr: text} = await notFound('frobnicate')
    expect(text).toBe('Error [E_USAGE]: Unknown command frobnicate\nHint: Commands: init, schedule install, schedule status, status, up. See `agnes --help`.\n')
  })

  it('a word after a command that takes no argument points at that command\'s help', async () => {
    const outcome = await notFound('up:extra')
    expect(outcome.exitCode).toBe(2)
    expect(outcome.stderr).toBe('Error [E_USAGE]: Unknown command up extra\nHint: `agnes up` takes no such argument. See `agnes up --help`.\n')
  })

  it('under --json prints one document on stdout and nothing on stderr', async () => {
    const outcome = await notFound('up:extra', ['--json'])
    expect(outcome.stderr).toBe('')
    expect(JSON.parse(outcome.stdout)).toEqual({
      error: {code: 'E_USAGE', exitCode: 2, hint: '`agnes up` takes no such argument. See `agnes up --help`.', message: 'Unknown command up extra'},
      ok: false,
    })
  })

  it('a flag in place of the command is named without its value', async () => {
    const {stderr: text} = await notFound(`--token=${SECRET}`, ['status'])
    expect(text).not.toContain(SECRET)
    expect(text.split('\n')[0]).toBe('Error [E_USAGE]: Expected a command before any flag, got --token')
  })
})
