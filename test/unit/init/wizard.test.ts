import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {InvalidInputError} from '../../../src/lib/errors.js'
import {applyInit} from '../../../src/lib/init/apply.js'
import {planInit, readExisting} from '../../../src/lib/init/plan.js'
import {resolveInitSettings} from '../../../src/lib/init/settings.js'
import {adminPasswordAnswer, checkBind, checkBigqueryLocation, checkBigqueryProject, checkedPin} from '../../../src/lib/init/validators.js'
import {TagLookup, askAdminPassword, askVersion, wizardIntroduction} from '../../../src/lib/init/wizard.js'
import {clearSecrets} from '../../../src/lib/secrets/redact.js'
import type {Choice, Prompter} from '../../../src/lib/ui/prompt.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-wizard-'))
})
afterEach(() => {
  clearSecrets()
  rmSync(dir, {force: true, recursive: true})
})

type Answer = string | ((options: {message: string; choices?: Array<Choice<string>>; validate?: (value: string) => true | string}) => string)

/** Answers questions in order and records what was asked; a validator that refuses an answer fails the test. */
class QueuePrompter implements Prompter {
  readonly asked: string[] = []
  readonly offered: string[][] = []
  constructor(private readonly answers: Answer[]) {}
  private take(options: {message: string; choices?: Array<Choice<string>>; validate?: (value: string) => true | string}): string {
    this.asked.push(options.message)
    const next = this.answers.shift()
    if (next === undefined) throw new Error(`unexpected question: ${options.message}`)
    const answer = typeof next === 'function' ? next(options) : next
    if (options.validate) expect(options.validate(answer), `validator of "${options.message}" refused ${answer}`).toBe(true)
    return answer
  }

  async input(options: {message: string; default?: string; validate?: (value: string) => true | string}) {
    return this.take(options)
  }

  async password(options: {message: string; validate?: (value: string) => true | string}) {
    return this.take(options)
  }

  async select<T extends string>(options: {message: string; choices: Array<Choice<T>>; default?: T}): Promise<T> {
    this.offered.push(options.choices.map((choice) => choice.value))
    return this.take(options) as T
  }

  async confirm(options: {message: string}) {
    return this.take(options) === 'yes'
  }
}

function registry(tags: string[], options: {listFails?: boolean} = {}): TagLookup & {checked: string[]} {
  const checked: string[] = []
  return {
    checked,
    async listTags() {
      if (options.listFails) throw new Error('connection refused')
      return tags
    },
    async tagExists(_repository, tag) {
      checked.push(tag)
      return tags.includes(tag)
    },
  }
}

describe('per-answer validators', () => {
  it('accept good answers and name the flag in the message for bad ones', () => {
    expect(checkedPin(' stable-2026.04.3 ')).toBe('stable-2026.04.3')
    expect(() => checkedPin('latest')).toThrow(/--pin/)
    expect(checkBigqueryProject('acme-analytics')).toBe('acme-analytics')
    expect(() => checkBigqueryProject('Acme')).toThrow(/--bigquery-project/)
    expect(checkBigqueryLocation('europe-west1')).toBe('europe-west1')
    expect(() => checkBigqueryLocation('eu west')).toThrow(/--bigquery-location/)
  })

  it('the password answer may be empty (set later) or at least 8 characters', () => {
    expect(adminPasswordAnswer('')).toBe(true)
    expect(adminPasswordAnswer('12345678')).toBe(true)
    expect(adminPasswordAnswer('short')).toMatch(/at least 8 characters/)
  })

  it('--bind takes 0.0.0.0 or 127.0.0.1, and refuses 0.0.0.0 next to Caddy', () => {
    expect(checkBind('127.0.0.1', 'none')).toBe('127.0.0.1')
    expect(checkBind('0.0.0.0', 'none')).toBe('0.0.0.0')
    expect(() => checkBind('10.0.0.1', 'none')).toThrow(InvalidInputError)
    expect(() => checkBind('0.0.0.0', 'acme')).toThrow(/--bind 0.0.0.0 with TLS/)
  })
})

describe('the wizard', () => {
  it('says what it writes and where before it asks', () => {
    const text = wizardIntroduction('/opt/agnes', true).join('\n')
    expect(text).toContain('/opt/agnes')
    for (const file of ['docker-compose.yml', 'docker-compose.override.yml', '.env', 'config/instance.yaml']) expect(text).toContain(file)
    expect(text).toMatch(/Nothing is written until you confirm/)
  })

  it('offers the newest versions from the registry, newest first, numerically', async () => {
    const tags = ['stable', 'stable-2026.04.9', 'stable-2026.04.10', 'dev-2026.04.11', 'sha-abcdef0', 'stable-2026.03.99']
    const prompter = new QueuePrompter(['pin', (options) => options.choices?.[0].value ?? ''])
    const result = await askVersion({prompter, registry: registry(tags), say() {}}, '127.0.0.1:5000/agnes', {})
    expect(prompter.offered[1]).toEqual(['dev-2026.04.11', 'stable-2026.04.10', 'stable-2026.04.9', 'stable-2026.03.99', 'other'])
    expect(result).toEqual({channel: 'dev', pin: 'dev-2026.04.11'})
  })

  it('re-asks a typed version the registry does not have, saying so', async () => {
    const said: string[] = []
    const lookup = registry(['stable-2026.04.2'])
    const prompter = new QueuePrompter(['pin', 'other', 'stable-2026.01.1', 'stable-2026.04.2'])
    const result = await askVersion({prompter, registry: lookup, say: (line) => said.push(line)}, 'r/agnes', {})
    expect(result).toEqual({channel: 'stable', pin: 'stable-2026.04.2'})
    expect(lookup.checked).toEqual(['stable-2026.01.1', 'stable-2026.04.2'])
    expect(said.join('\n')).toContain('has no version stable-2026.01.1')
  })

  it('falls back to typing the version when the registry cannot list tags', async () => {
    const said: string[] = []
    const prompter = new QueuePrompter(['pin', 'stable-2026.04.2'])
    const result = await askVersion({prompter, registry: registry(['stable-2026.04.2'], {listFails: true}), say: (line) => said.push(line)}, 'r/agnes', {})
    expect(result.pin).toBe('stable-2026.04.2')
    expect(said.join('\n')).toContain('Could not list the versions')
  })

  it('asks for the password twice and starts over when the two differ', async () => {
    const said: string[] = []
    const prompter = new QueuePrompter(['correct horse', 'correct hose', 'correct horse', 'correct horse'])
    expect(await askAdminPassword({prompter, say: (line) => said.push(line)})).toBe('correct horse')
    expect(prompter.asked.filter((message) => /again/.test(message))).toHaveLength(2)
    expect(said).toEqual(['The two passwords differ; type them again.'])
  })

  it('an empty password leaves it for agnes configure and asks no confirmation', async () => {
    const prompter = new QueuePrompter([''])
    expect(await askAdminPassword({prompter, say() {}})).toBeUndefined()
    expect(prompter.asked).toHaveLength(1)
  })
})

describe('the app port binding', () => {
  async function writeInstance(given: Record<string, string>) {
    const existing = await readExisting(dir)
    const settings = await resolveInitSettings({adminEmail: 'admin@example.com', ...given}, existing)
    const plan = await planInit(existing, settings, {}, {force: false, project: 'bindtest'})
    await applyInit(plan)
    return {compose: readFileSync(join(dir, 'docker-compose.yml'), 'utf8'), env: readFileSync(join(dir, '.env'), 'utf8'), settings}
  }

  it('without a choice publishes the app on every interface', async () => {
    const {compose, env, settings} = await writeInstance({})
    expect(settings.bind).toBe('0.0.0.0')
    expect(env).toMatch(/^AGNES_HTTP_BIND=0\.0\.0\.0$/m)
    expect(compose).toContain('"${AGNES_HTTP_BIND:-0.0.0.0}:${AGNES_HTTP_PORT:-8000}:8000"')
  })

  it('--bind 127.0.0.1 keeps the app port on loopback, and a re-run keeps that choice', async () => {
    const {env} = await writeInstance({bind: '127.0.0.1'})
    expect(env).toMatch(/^AGNES_HTTP_BIND=127\.0\.0\.1$/m)
    const again = await resolveInitSettings({}, await readExisting(dir))
    expect(again.bind).toBe('127.0.0.1')
  })
})
