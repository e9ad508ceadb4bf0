import {ConflictError} from '../errors.js'
import {RegistryClient, createRegistryClient} from '../image-registry/client.js'
import {Channel, deprecatedTagFor, isVersionTag, sortDeprecatedTags, sortVersionTags} from '../image-registry/versions.js'
import {Reporter} from '../ui/reporter.js'

/**
 * How many of the newest tags are resolved when a digest is matched to a release: a deprecated build is
 * judged in the days after its publish, and the publisher prunes CalVer tags after about two months.
 */
export const RECENT_TAGS_RESOLVED = 10

/**
 * Which of `digests` the publisher marked `deprecated-*`. Costs one tag listing (one request per 1000 tags),
 * plus one HEAD per recent deprecated tag (at most RECENT_TAGS_RESOLVED), stopping once every digest is found.
 * Callers ask only when the channel head differs from the running digest, so a quiet tick costs nothing here.
 */
export async function deprecatedAmong(registry: RegistryClient, repository: string, digests: string[], signal?: AbortSignal): Promise<Map<string, string>> {
  const found = new Map<string, string>()
  const wanted = new Set(digests)
  for (const tag of sortDeprecatedTags(await registry.listTags(repository, {signal})).slice(0, RECENT_TAGS_RESOLVED)) {
    const {digest} = await registry.resolveDigest(repository, tag, {signal})
    if (wanted.has(digest) && !found.has(digest)) found.set(digest, tag)
    if (found.size === wanted.size) break
  }

  return found
}

/** Whether a version tag was deprecated: one HEAD of its `deprecated-` twin. */
export async function isVersionDeprecated(registry: RegistryClient, repository: string, version: string, signal?: AbortSignal): Promise<boolean> {
  return registry.tagExists(repository, deprecatedTagFor(version), {signal})
}

/**
 * The CalVer release tag that points at `digest`, among the channel's newest RECENT_TAGS_RESOLVED versions:
 * one tag listing plus one HEAD per version tried, newest first. Undefined when none of them matches.
 */
export async function versionOfDigest(registry: RegistryClient, repository: string, channel: Channel, digest: string, signal?: AbortSignal): Promise<string | undefined> {
  for (const tag of sortVersionTags(await registry.listTags(repository, {signal}), channel).slice(0, RECENT_TAGS_RESOLVED)) {
    if ((await registry.resolveDigest(repository, tag, {signal})).digest === digest) return tag
  }

  return undefined
}

/**
 * `pin` and `up` never deploy a build the publisher deprecated: exit 7 naming the tag, or with --force a
 * warning. A version is checked by its own `deprecated-` twin (one HEAD), a channel by deprecatedAmong.
 */
export async function refuseDeprecated(registry: RegistryClient, target: {repository: string; tag: string; digest: string}, options: {force: boolean; reporter: Reporter; signal?: AbortSignal}): Promise<void> {
  const {repository, tag, digest} = target
  const marked = isVersionTag(tag)
    ? ((await isVersionDeprecated(registry, repository, tag, options.signal)) ? deprecatedTagFor(tag) : undefined)
    : (await deprecatedAmong(registry, repository, [digest], options.signal)).get(digest)
  if (!marked) return
  if (options.force) {
    options.reporter.warn(`${tag} (${digest.slice(0, 19)}…) was marked ${marked} by the publisher; deploying it anyway (--force).`)
    return
  }

  throw new ConflictError(`${tag} (${digest.slice(0, 19)}…) was marked ${marked} by the publisher: it failed on the canary and is not deployed`, {
    hint: 'Choose another version (`agnes pin <version>`, or follow the channel, which the publisher moved back), or pass --force to deploy it anyway.',
  })
}

/**
 * For `status` and `doctor`: the `deprecated-*` tag of the running digest, or undefined (also when the registry
 * cannot be asked quickly: these commands report, they do not fail on a slow registry).
 */
export async function runningDeprecation(repository: string, digest: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
  if (!digest) return undefined
  const registry = createRegistryClient({retries: 0, signal, timeoutMs: 5000})
  try {
    return (await deprecatedAmong(registry, repository, [digest], signal)).get(digest)
  } catch {
    return undefined
  } finally {
    await registry.close()
  }
}
