// The error catalogue (src/lib/errors.ts) against what a user reads: the README's exit-code table, every
// command's --help and the root help. Rendered in-process from the sources: no build needed.
import {Command, Config} from '@oclif/core'
import {readFileSync, readdirSync} from 'node:fs'
import {join, relative} from 'node:path'
import {beforeAll, describe, expect, it, vi} from 'vitest'

import AgnesHelp from '../../src/help.js'
import {AgnesError, ERROR_CATALOGUE, EXIT_CODE_TABLE} from '../../src/lib/errors.js'
import {repoRoot} from '../helpers/run-cli.js'

const commandFiles = readdirSync(join(repoRoot, 'src', 'commands'), {recursive: true, withFileTypes: true}).filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
const commands = await Promise.all(
  commandFiles.map(async (entry) => {
    const file = join(entry.parentPath, entry.name)
    const module = (await import(file)) as {default: Command.Class}
    return {command: module.default, id: relative(join(repoRoot, 'src', 'commands'), file).replace(/\.ts$/, '').replaceAll('/', ':')}
  }),
)
commands.sort((a, b) => a.id.localeCompare(b.id))

let config: Config

beforeAll(async () => {
  config = await Config.load({root: repoRoot})
})

async function printed(show: () => Promise<void>): Promise<string> {
  let out = ''
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  })
  try {
    await show()
  } finally {
    spy.mockRestore()
  }

  // oclif colours help on a terminal; the words are what count here.
  // eslint-disable-next-line no-control-regex
  return out.replace(/\u001B\[[0-9;]*m/g, '')
}

async function commandHelp(id: string, command: Command.Class): Promise<string> {
  // oclif's own cached form of a command class, as its manifest holds it (not exported by @oclif/core).
  const {cacheCommand} = await import(join(repoRoot, 'node_modules/@oclif/core/lib/util/cache-command.js'))
  const cached = await cacheCommand(Object.assign(command, {id}))
  return printed(() => new AgnesHelp(config).showCommandHelp({...cached, load: async () => command}))
}

function exitCodesIn(section: string): number[] {
  return [...section.matchAll(/^\s+(\d+)\s{2}/gm)].map((match) => Number(match[1]))
}

describe('the error catalogue', () => {
  it('has one entry per code, and each class carries its code and exit code', () => {
    const codes = ERROR_CATALOGUE.map((entry) => entry.code)
    expect(new Set(codes).size).toBe(codes.length)
    for (const entry of ERROR_CATALOGUE) {
      const ErrorClass = entry.errorClass as unknown as new (...args: string[]) => AgnesError
      const error = new ErrorClass('message', 'more')
      expect(error, entry.code).toBeInstanceOf(AgnesError)
      expect({code: error.code, exitCode: error.exitCode}).toEqual({code: entry.code, exitCode: entry.exitCode})
      expect(EXIT_CODE_TABLE.map(([code]) => code)).toContain(entry.exitCode)
    }
  })

  it('is the only place an error code is spelled out in src/', () => {
    const files = readdirSync(join(repoRoot, 'src'), {recursive: true, withFileTypes: true})
      .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
      .map((entry) => join(entry.parentPath, entry.name))
    const known = new Set(ERROR_CATALOGUE.map((entry) => entry.code))
    const adHoc: string[] = []
    for (const file of files) {
      const where = relative(repoRoot, file)
      for (const [code] of readFileSync(file, 'utf8').matchAll(/['"`]E_[A-Z_]+['"`]/g)) {
        const name = code.slice(1, -1)
        if (where !== join('src', 'lib', 'errors.ts') || !known.has(name)) adHoc.push(`${where}: ${name}`)
      }
    }

    expect(adHoc).toEqual([])
  })

  it("is the README's exit-code table: every exit code with its meaning and its error codes", () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
    const table = readme.slice(readme.indexOf('| exit | meaning | error codes |'))
    const rows = [...table.matchAll(/^\| (\d+) \| (.+) \| (.+) \|$/gm)].slice(0, EXIT_CODE_TABLE.length + 1)
    const documented = rows.map(([, exit, meaning, codes]) => [Number(exit), meaning, codes === '—' ? [] : codes.split(', ').map((code) => code.replaceAll('`', ''))])
    expect(documented).toEqual(
      EXIT_CODE_TABLE.map(([exit, meaning]) => [exit, meaning, ERROR_CATALOGUE.filter((entry) => entry.exitCode === exit).map((entry) => entry.code)]),
    )
  })
})

describe('help', () => {
  it('finds every command', () => {
    expect(commands.map(({id}) => id)).toEqual(expect.arrayContaining(['init', 'up', 'configure', 'smoke', 'upgrade', 'schedule:install']))
  })

  it.each(commands)("agnes $id --help documents every exit code it can end with", async ({command, id}) => {
    const help = await commandHelp(id, command)
    const section = help.slice(help.indexOf('\nEXIT CODES\n'))
    expect(section.length, help).toBeGreaterThan(0)
    expect(exitCodesIn(section)).toEqual(EXIT_CODE_TABLE.map(([code]) => code))
    for (const entry of ERROR_CATALOGUE) expect(exitCodesIn(section)).toContain(entry.exitCode)
    // An exit code a description names ("exit 10", "(exit 75") is one of the table's.
    const named = [...String(command.description).matchAll(/\bexits? (\d+)/g)].map((match) => Number(match[1]))
    for (const code of named) expect(EXIT_CODE_TABLE.map(([exit]) => exit), `${id}: exit ${code}`).toContain(code)
  })

  it.each(commands)('agnes $id: one paragraph per line in its descriptions (oclif wraps them)', ({command}) => {
    const texts = [String(command.description ?? ''), ...Object.values(command.flags ?? {}).map((flag) => String((flag as {description?: string} | undefined)?.description ?? ''))]
    for (const text of texts) {
      const lines = text.split('\n')
      const wrapped = lines.filter((line, index) => index > 0 && line !== '' && !line.startsWith(' ') && lines[index - 1] !== '' && !lines[index - 1].startsWith(' ') && !lines[index - 1].endsWith(':'))
      expect(wrapped, text).toEqual([])
    }
  })

  it('agnes --help shows the quick path, init → up → configure → smoke, and the exit codes', async () => {
    const help = await printed(() => new AgnesHelp(config).showHelp([]))
    const quick = help.slice(help.indexOf('QUICK START'), help.indexOf('EXIT CODES'))
    expect(help).toContain('QUICK START')
    const steps = [...quick.matchAll(/\$ agnes (\S+)/g)].map((match) => match[1])
    expect(steps).toEqual(['init', 'up', 'configure', 'smoke'])
    expect(exitCodesIn(help.slice(help.indexOf('EXIT CODES')))).toEqual(EXIT_CODE_TABLE.map(([code]) => code))
  })

  it('agnes --help lists as topics only the ids with commands below them (backup, fleet, release, schedule)', async () => {
    const help = await printed(() => new AgnesHelp(config).showHelp([]))
    const topics = help.slice(help.indexOf('TOPICS'), help.indexOf('COMMANDS'))
    const names = [...topics.matchAll(/^ {2}(\S+) /gm)].map((match) => match[1])
    expect(names).toEqual(['backup', 'fleet', 'release', 'schedule'])
  })
})
