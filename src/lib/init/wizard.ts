import {sortVersionTags, validateVersionTag} from '../image-registry/versions.js'
import type {Channel} from '../instance/state.js'
import {registerSecret} from '../secrets/redact.js'
import type {Prompter} from '../ui/prompt.js'
import {adminPasswordAnswer, checkedPin, promptCheck} from './validators.js'

/** The part of the registry client the wizard needs to offer and check versions. */
export interface TagLookup {
  listTags(repository: string): Promise<string[]>
  tagExists(repository: string, tag: string): Promise<boolean>
}

export interface WizardIo {
  prompter: Prompter
  /** A line for the person at the terminal (stderr). */
  say: (line: string) => void
  /** Injected by tests; otherwise a registry client is opened when a pinned version is chosen. */
  registry?: TagLookup
}

const RECENT_VERSIONS = 8
const OTHER_VERSION = 'other'

/** What the wizard says before its first question. */
export function wizardIntroduction(dir: string, fresh: boolean): string[] {
  return [
    fresh ? `agnes init sets up a new Agnes instance in ${dir}.` : `agnes init updates the Agnes instance in ${dir}; every answer starts from its current setting.`,
    'It writes docker-compose.yml (managed by agnes), docker-compose.override.yml (yours, created once), .env (mode 0600, with generated secrets), config/instance.yaml, .agnes/ (agnes state) and, with TLS, a Caddyfile.',
    'Each question shows its default; press Enter to keep it. Nothing is written until you confirm the plan at the end.',
    '',
  ]
}

async function withRegistry<T>(given: TagLookup | undefined, work: (lookup: TagLookup) => Promise<T>): Promise<T> {
  if (given) return work(given)
  const {createRegistryClient} = await import('../image-registry/client.js')
  const client = createRegistryClient({retries: 1, timeoutMs: 15_000})
  try {
    return await work(client)
  } finally {
    await client.close()
  }
}

async function recentVersions(io: WizardIo, lookup: TagLookup, repository: string): Promise<string[]> {
  try {
    return sortVersionTags(await lookup.listTags(repository)).slice(0, RECENT_VERSIONS)
  } catch (error) {
    io.say(`Could not list the versions of ${repository} (${(error as Error).message}); type the version instead.`)
    return []
  }
}

/** Asks for a version tag until the registry has it (or cannot be asked, which `agnes up` will then report). */
async function typeVersion(io: WizardIo, lookup: TagLookup, repository: string, current?: string): Promise<string> {
  for (;;) {
    const pin = checkedPin(await io.prompter.input({default: current, message: 'Version to pin — a versioned tag such as stable-2026.04.3', validate: promptCheck(checkedPin)}))
    let exists: boolean
    try {
      exists = await lookup.tagExists(repository, pin)
    } catch (error) {
      io.say(`Could not check ${pin} in ${repository} (${(error as Error).message}); keeping it.`)
      return pin
    }

    if (exists) return pin
    io.say(`${repository} has no version ${pin}; choose another one.`)
  }
}

async function askPin(io: WizardIo, repository: string, current?: string): Promise<string> {
  return withRegistry(io.registry, async (lookup) => {
    const versions = await recentVersions(io, lookup, repository)
    if (versions.length === 0) return typeVersion(io, lookup, repository, current)
    const picked = await io.prompter.select({
      choices: [...versions.map((tag) => ({name: tag, value: tag})), {description: 'an older version, not in this list', name: 'Another version…', value: OTHER_VERSION}],
      default: current && versions.includes(current) ? current : versions[0],
      message: `Version to pin (the newest ${versions.length} in ${repository})`,
    })
    return picked === OTHER_VERSION ? typeVersion(io, lookup, repository, current) : picked
  })
}

/** Follow a channel, or pin one version that the registry has. */
export async function askVersion(io: WizardIo, repository: string, current: {channel?: Channel; pin?: string}): Promise<{channel: Channel; pin?: string}> {
  const mode = await io.prompter.select({
    choices: [
      {description: 'every release that passed CI; agnes upgrade follows it', name: 'Follow the stable channel (recommended)', value: 'stable'},
      {description: 'feature-branch builds, for testing only', name: 'Follow the dev channel', value: 'dev'},
      {description: 'stay on one exact version until you change it', name: 'Pin an exact version', value: 'pin'},
    ],
    default: current.pin ? 'pin' : (current.channel ?? 'stable'),
    message: 'Which Agnes versions should this instance run?',
  })
  if (mode !== 'pin') return {channel: mode as Channel}
  const pin = await askPin(io, repository, current.pin)
  return {channel: validateVersionTag(pin).channel, pin}
}

/** The admin password, typed twice; a short one or a mismatch asks again instead of failing at the end. */
export async function askAdminPassword(io: WizardIo): Promise<string | undefined> {
  for (;;) {
    const first = await io.prompter.password({message: 'Admin password (hidden, at least 8 characters; empty: set it later with agnes configure)', validate: adminPasswordAnswer})
    if (first === '') return undefined
    registerSecret(first)
    const second = await io.prompter.password({message: 'The same password again'})
    if (second === first) return first
    io.say('The two passwords differ; type them again.')
  }
}
