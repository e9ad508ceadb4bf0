/**
 * The Agnes image tag scheme (docs/design.md#versions-are-compared-as-numbers): floating channels `stable` and `dev`, versions
 * `<channel>-YYYY.MM.N`, commit tags `sha-<7 hex>`, and `deprecated-YYYY.MM.N` for releases the publisher
 * rolled back. N is one monthly counter shared by both channels and can have several digits, so versions
 * are compared as numbers, never as strings.
 */
import {InvalidInputError} from '../errors.js'

export const CHANNELS = ['stable', 'dev'] as const
export type Channel = (typeof CHANNELS)[number]

export interface VersionTag {
  channel: Channel
  year: number
  month: number
  n: number
}

export const VERSION_TAG_EXAMPLE = 'stable-2026.04.3'

// Months are written with two digits by the publisher; one digit is read too so such a tag still sorts right.
const VERSION_TAG_PATTERN = /^(stable|dev)-(\d{4})\.(\d{1,2})\.(\d{1,9})$/
const SHA_TAG_PATTERN = /^sha-[0-9a-f]{7}$/
const DEPRECATED_PREFIX = 'deprecated-'

export function isChannel(value: string): value is Channel {
  return (CHANNELS as readonly string[]).includes(value)
}

export function parseVersionTag(tag: string): VersionTag | undefined {
  const match = VERSION_TAG_PATTERN.exec(tag)
  if (!match) return undefined
  const month = Number(match[3])
  if (month < 1 || month > 12) return undefined
  return {channel: match[1] as Channel, year: Number(match[2]), month, n: Number(match[4])}
}

export function isVersionTag(value: string): boolean {
  return parseVersionTag(value) !== undefined
}

export function isShaTag(value: string): boolean {
  return SHA_TAG_PATTERN.test(value)
}

export function validateVersionTag(value: string): VersionTag {
  const parsed = parseVersionTag(value)
  if (parsed) return parsed
  const problem = isChannel(value)
    ? `"${value}" is a channel, not a version`
    : `"${value}" is not a version`
  throw new InvalidInputError(`${problem}: expected <channel>-YYYY.MM.N, e.g. ${VERSION_TAG_EXAMPLE} or dev-2026.04.3`, {
    hint: `Give a version tag such as ${VERSION_TAG_EXAMPLE} (channel stable or dev, year, two-digit month, release number).`,
    details: {input: value},
  })
}

/** Orders two version tags by year, month, then N: negative when a is older, positive when a is newer. */
export function compareVersionTags(a: string, b: string): number {
  const left = validateVersionTag(a)
  const right = validateVersionTag(b)
  return (
    left.year - right.year ||
    left.month - right.month ||
    left.n - right.n ||
    // N is shared by both channels, so a tie across channels does not happen in practice; keep the order stable anyway.
    left.channel.localeCompare(right.channel)
  )
}

/** Version tags only (channels, sha-, deprecated- and other tags are dropped), newest first, without duplicates. */
export function sortVersionTags(tags: Iterable<string>, channel?: Channel): string[] {
  const versions = [...new Set(tags)].filter((tag) => {
    const parsed = parseVersionTag(tag)
    return parsed !== undefined && (channel === undefined || parsed.channel === channel)
  })
  return versions.sort((a, b) => compareVersionTags(b, a))
}

/** The tag the publisher's rollback pushes for a failed release: `stable-2026.05.7` → `deprecated-2026.05.7`. */
export function deprecatedTagFor(tag: string): string {
  const {channel} = validateVersionTag(tag)
  return DEPRECATED_PREFIX + tag.slice(channel.length + 1)
}

/** Whether the publisher marked this version as rolled back, judged from the repository's tag list. */
export function isDeprecated(tag: string, allTags: Iterable<string>): boolean {
  if (!isVersionTag(tag)) return false
  const deprecatedTag = deprecatedTagFor(tag)
  for (const candidate of allTags) if (candidate === deprecatedTag) return true
  return false
}

/** The `deprecated-YYYY.MM.N` tags among `tags`, newest first. */
export function sortDeprecatedTags(tags: Iterable<string>): string[] {
  const asVersions = [...tags].filter((tag) => tag.startsWith(DEPRECATED_PREFIX)).map((tag) => `stable-${tag.slice(DEPRECATED_PREFIX.length)}`)
  return sortVersionTags(asVersions).map((tag) => DEPRECATED_PREFIX + tag.slice('stable-'.length))
}
