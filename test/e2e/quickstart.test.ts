// The README's Quick start, run as written against the real Docker engine: every `agnes …` line of its code
// block, in a fresh directory, without a terminal, must exit 0. The block is read from README.md, so a change
// to the README changes what this test runs.
import {appendFileSync, mkdirSync, readFileSync, statSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CliResult, repoRoot, runAgnes} from '../helpers/run-cli.js'
import {Published, TestInstance, destroyInstance, engineOpenFileLimit, freePort, instancesRoot, publishStandard, readEnvFile} from './fixtures.js'

/** The lines of the sh block under "## Quick start", each with its trailing comment split off. */
function quickStartLines(): Array<{command: string; comment: string}> {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const section = /^## Quick start\n([\s\S]*?)^## /m.exec(readme)?.[1]
  const block = section && /```sh\n([\s\S]*?)```/.exec(section)?.[1]
  if (!block) throw new Error('README.md has no sh code block under "## Quick start"')
  return block
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const hash = line.search(/\s#/)
      return hash === -1 ? {command: line.trim(), comment: ''} : {command: line.slice(0, hash).trim(), comment: line.slice(hash).replace(/^\s*#\s*/, '')}
    })
}

const MAKE_DIR = /^sudo mkdir -p \/opt\/agnes && (.*&& )?cd \/opt\/agnes$/

describe('the README Quick start, as written', () => {
  let published: Published
  let instance: TestInstance | undefined
  const results: CliResult[] = []

  beforeAll(async () => {
    published = await publishStandard('quickstart')
  })

  afterAll(() => destroyInstance(instance))

  it('every agnes line exits 0 in a fresh directory, and ends with a passing smoke test', async () => {
    const lines = quickStartLines()
    expect(lines[0].command, 'the Quick start starts by making /opt/agnes and going there').toMatch(MAKE_DIR)
    const dir = join(instancesRoot, `quickstart-${randomBytes(3).toString('hex')}`)
    mkdirSync(dir, {recursive: true})
    const port = await freePort()
    // What a fresh host differs in, through the commands' own AGNES_* twins; nothing else of the tester's.
    const env: Record<string, string | undefined> = Object.fromEntries(
      Object.keys(process.env)
        .filter((key) => key.startsWith('AGNES_') && key !== 'AGNES_COMPOSE')
        .map((key) => [key, undefined]),
    )
    Object.assign(env, {
      AGNES_CPUS: '1',
      AGNES_HTTP_PORT: String(port),
      AGNES_IMAGE: published.repository,
      AGNES_MEMORY: '512m',
      // The smoke test's settle wait (30 s by default) proves nothing more here.
      AGNES_SMOKE_SETTLE: '1',
    })

    const ran: string[] = []
    for (const {command, comment} of lines.slice(1)) {
      if (/\bthe wizard\b/.test(comment)) continue
      expect(command, `a Quick start line this test does not know how to run: ${command}`).toMatch(/^agnes [a-z]/)
      expect(command, 'plain words only: the test splits the line on spaces').not.toMatch(/["'`$\\|&;<>]/)
      const args = command.split(/\s+/).slice(1)
      const result = await runAgnes(args, {cwd: dir, env})
      results.push(result)
      expect(result.exitCode, `${command}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`).toBe(0)
      ran.push(args[0])
      if (args[0] === 'init') {
        const state = JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8')) as {project: string}
        instance = {dir, name: 'quickstart', port, project: state.project, repository: published.repository, url: `http://127.0.0.1:${port}`}
        // What this sandbox's engine needs, as in fixtures.newInstance: it cannot grant 65536 open files.
        appendFileSync(join(dir, '.env'), `\n# test host\nAGNES_HEALTHCHECK_INTERVAL=2s\nAGNES_NOFILE=${engineOpenFileLimit()}\n`)
      }
    }

    expect(ran).toEqual(['init', 'up', 'configure', 'smoke'])
    const secretsFile = join(dir, '.agnes', 'secrets.env')
    const password = readEnvFile(secretsFile).AGNES_ADMIN_PASSWORD
    expect(password).toHaveLength(20)
    expect(statSync(secretsFile).mode & 0o777).toBe(0o600)
    const [configure, smoke] = results.slice(-2)
    expect(configure.stdout).toContain(`its generated password is AGNES_ADMIN_PASSWORD in ${secretsFile}`)
    expect(smoke.stdout).toMatch(/pass\s+catalog .*none registered yet/)
    expect(smoke.stdout).toContain('Smoke test passed')
    for (const result of results) expect(result.stdout + result.stderr).not.toContain(password)
  })
})
