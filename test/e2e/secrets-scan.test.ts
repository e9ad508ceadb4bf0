// Runs after the other e2e files: everything the CLI printed during the suite (the transcript of every run:
// stdout, stderr, JSON) and every history file must be free of the secrets the instances generated and
// the secrets the tests gave.
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {repoRoot, transcriptFile} from '../helpers/run-cli.js'
import {instancesRoot, readEnvFile, secretsLedger} from './fixtures.js'

/** Written by the e2e files that give or generate secrets (e.g. headless.test.ts): "label<TAB>secret" a line. */
const GENERATED_KEYS = ['JWT_SECRET_KEY', 'SESSION_SECRET', 'SCHEDULER_API_TOKEN', 'AGNES_VAULT_KEY', 'KEBOOLA_STORAGE_TOKEN']
const GIVEN_KEYS = ['AGNES_ADMIN_PASSWORD', 'AGNES_BOOTSTRAP_TOKEN']
/** Shorter values could occur in normal text by chance (the CLI's redaction uses the same floor). */
const MIN_SECRET_LENGTH = 8

function instanceDirs(): string[] {
  if (!existsSync(instancesRoot)) return []
  return readdirSync(instancesRoot, {withFileTypes: true})
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(instancesRoot, entry.name))
}

/** label → secret, from the instances still on disk and the ledger. */
function knownSecrets(): Map<string, string> {
  const secrets = new Map<string, string>()
  const add = (label: string, value: string | undefined) => {
    if (value && value.length >= MIN_SECRET_LENGTH) secrets.set(label, value)
  }

  for (const dir of instanceDirs()) {
    const name = dir.slice(instancesRoot.length + 1)
    if (existsSync(join(dir, '.env'))) {
      const env = readEnvFile(join(dir, '.env'))
      for (const key of GENERATED_KEYS) add(`${key} of ${name}`, env[key])
    }

    if (existsSync(join(dir, '.agnes', 'secrets.env'))) {
      const kept = readEnvFile(join(dir, '.agnes', 'secrets.env'))
      for (const key of GIVEN_KEYS) add(`${key} kept for ${name}`, kept[key])
    }
  }

  if (existsSync(secretsLedger)) {
    for (const line of readFileSync(secretsLedger, 'utf8').split('\n')) {
      const tab = line.indexOf('\t')
      if (tab > 0) add(line.slice(0, tab), line.slice(tab + 1))
    }
  }

  return secrets
}

/** name → text of everything the CLI wrote that a person, a log or an alert could see. */
function printedTexts(): Map<string, string> {
  const texts = new Map<string, string>()
  if (existsSync(transcriptFile)) texts.set('the CLI transcript', readFileSync(transcriptFile, 'utf8'))
  for (const dir of instanceDirs()) {
    const history = join(dir, '.agnes', 'history.jsonl')
    if (existsSync(history)) texts.set(history, readFileSync(history, 'utf8'))
  }

  return texts
}

describe('secret scan of the whole e2e suite', () => {
  it('has something to scan: a transcript and known secrets', () => {
    const transcript = existsSync(transcriptFile) ? readFileSync(transcriptFile, 'utf8') : ''
    expect(transcript.trim().length, `${transcriptFile} is empty or missing: this file must run after the other e2e files`).toBeGreaterThan(0)
    expect(knownSecrets().size, 'no secrets to look for: no instance directory and no ledger, so the scan would pass vacuously').toBeGreaterThan(0)
  })

  it('no generated or given secret appears in any output or history file', () => {
    const leaks: string[] = []
    const texts = printedTexts()
    for (const [label, secret] of knownSecrets()) {
      for (const [where, text] of texts) if (text.includes(secret)) leaks.push(`${label} appears in ${where}`)
    }

    // Only labels are reported, never the secret values themselves.
    expect(leaks).toEqual([])
  })
})
