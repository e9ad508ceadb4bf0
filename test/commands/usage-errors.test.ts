// Usage errors never echo a value and an unknown command under --json is one JSON
// document: through the built CLI, plain and with --json.
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {CliResult, runAgnes} from '../helpers/run-cli.js'

const SECRET = 'hunter2-Usage-Secret-93f1'
// As installed: outside NODE_ENV=test, oclif adds no developer warnings to stderr.
const PRODUCTION = {NODE_ENV: 'production'}
const cwd = mkdtempSync(join(tmpdir(), 'agnes-usage-'))

afterAll(() => rmSync(cwd, {force: true, recursive: true}))

interface Case {
  name: string
  args: string[]
  env?: Record<string, string>
  /** The message names this. */
  message: string | RegExp
  /** The hint says this (besides `agnes … --help`). */
  hint?: RegExp
}

const CASES: Case[] = [
  {args: ['init', `--admin-password=${SECRET}`], hint: /AGNES_ADMIN_PASSWORD, --admin-password-file or --admin-password-stdin/, message: 'Unknown flag --admin-password', name: 'an unknown secret flag with =value'},
  {args: ['init', '--admin-password', SECRET], hint: /AGNES_ADMIN_PASSWORD, --admin-password-file or --admin-password-stdin/, message: 'Unknown flag --admin-password', name: 'an unknown secret flag with a separate value'},
  {args: ['configure', `--keboola-token=${SECRET}`], hint: /AGNES_KEBOOLA_TOKEN, --keboola-token-file or --keboola-token-stdin/, message: 'Unknown flag --keboola-token', name: 'a Keboola token as a flag'},
  {args: ['smoke', '--token', SECRET], hint: /AGNES_TOKEN or --token-file/, message: 'Unknown flag --token', name: 'an API token as a flag'},
  {args: ['upgrade', `--webhook=${SECRET}`], hint: /never takes a secret from a flag value/, message: 'Unknown flag --webhook', name: 'a secret-looking flag without a twin'},
  {args: ['init', `-X${SECRET}`], message: 'Unknown flag -X', name: 'an unknown short flag with its value glued on'},
  {args: ['init', `--admin-emial=${SECRET}`], hint: /Did you mean --admin-email\?/, message: 'Unknown flag --admin-emial', name: 'a mistyped flag'},
  {args: ['init', `--channel=${SECRET}`], message: '--channel must be one of: stable, dev', name: 'a value outside the options'},
  {args: ['init'], env: {AGNES_CHANNEL: SECRET}, message: '--channel (set through AGNES_CHANNEL) must be one of: stable, dev', name: 'a bad value from the environment twin'},
  {args: ['upgrade', `--health-timeout=${SECRET}`], message: '--health-timeout: expected an integer', name: 'a flag parser that quotes the value'},
  {args: ['init', '--admin-password-stdin', SECRET], message: /^1 unexpected argument \(not shown/, name: 'a value after a boolean flag'},
  {args: ['pin', 'stable-2026.04.3', SECRET], message: /^1 unexpected argument \(not shown/, name: 'an extra argument'},
  {args: ['register-table', '--from-file', '/nonexistent.yaml', '--name', SECRET], message: '--name cannot also be provided when using --from-file', name: 'a flag validation that quotes the value'},
  {args: ['nosuchcmd'], hint: /Commands: .*init.*upgrade/, message: 'Unknown command nosuchcmd', name: 'an unknown command'},
  {args: ['statsu'], hint: /Did you mean `agnes status`\?/, message: 'Unknown command statsu', name: 'a mistyped command'},
  {args: [`--admin-password=${SECRET}`, 'init'], message: 'Expected a command before any flag, got --admin-password', name: 'a flag in place of the command'},
]

function expectNoSecret(result: CliResult) {
  expect(result.stdout).not.toContain(SECRET)
  expect(result.stderr).not.toContain(SECRET)
}

function matches(text: string, expected: string | RegExp) {
  if (typeof expected === 'string') expect(text).toBe(expected)
  else expect(text).toMatch(expected)
}

describe('usage errors name the flag, never its value (exit 2)', () => {
  it.each(CASES)('$name, for a person', async ({args, env, hint, message}) => {
    const result = await runAgnes(args, {cwd, env: {...PRODUCTION, ...env}})
    expect(result.exitCode, result.stderr).toBe(2)
    expect(result.stdout).toBe('')
    expectNoSecret(result)
    const lines = result.stderr.trimEnd().split('\n')
    expect(lines, result.stderr).toHaveLength(2)
    matches(lines[0].replace(/^Error \[E_USAGE\]: /, ''), message)
    // One hint, not two.
    expect(lines[1]).toMatch(/^Hint: /)
    expect(result.stderr).not.toContain('See more help')
    if (hint) expect(lines[1]).toMatch(hint)
  })

  it.each(CASES)('$name, under --json: exactly one JSON document', async ({args, env, hint, message}) => {
    const result = await runAgnes([...args, '--json'], {cwd, env: {...PRODUCTION, ...env}})
    expect(result.exitCode, result.stderr).toBe(2)
    expectNoSecret(result)
    expect(result.json, result.stdout).toBeDefined()
    expect(result.json.ok).toBe(false)
    expect(result.json.error).toMatchObject({code: 'E_USAGE', exitCode: 2})
    matches(result.json.error.message, message)
    expect(result.json.error.message).not.toContain('See more help')
    expect(result.json.error.hint).toMatch(/--help/)
    if (hint) expect(result.json.error.hint).toMatch(hint)
  })
})
