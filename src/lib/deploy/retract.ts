import {InvalidInputError, NotFoundError} from '../errors.js'
import {RegistryClient} from '../image-registry/client.js'
import {RegistryPublisher} from '../image-registry/publish.js'
import {Channel, deprecatedTagFor, sortDeprecatedTags, sortVersionTags, validateVersionTag} from '../image-registry/versions.js'
import {instancePaths} from '../instance/paths.js'
import {readState} from '../instance/state.js'
import {DeployDeps, hostDeployDeps} from './context.js'
import {RECENT_TAGS_RESOLVED, versionOfDigest} from './deprecation.js'
import {appendHistory} from './history.js'

export interface Retraction {
  /** The retracted release, e.g. stable-2026.05.7, and the tag that now marks it. */
  version: string
  deprecatedTag: string
  channel: Channel
  digest: string
  /** The digest the channel tag was moved back to; undefined when the channel no longer pointed at the release. */
  channelMovedTo?: string
  /** Where the channel tag points now. */
  channelHead: string
}

export interface RetractRequest {
  registry: RegistryClient
  publisher: RegistryPublisher
  repository: string
  signal?: AbortSignal
}

/**
 * Marks a release as rolled back in the registry: `deprecated-<CalVer>` on its digest, and the channel tag
 * moved back to `good` when it still points at the release (a newer build published meanwhile is left alone).
 * Tags are copied as manifests (publish.ts), never by pulling or pushing layers.
 */
export async function retract(request: RetractRequest & {version: string; digest: string; good?: string}): Promise<Retraction> {
  const {channel} = validateVersionTag(request.version)
  const {publisher, registry, repository, signal} = request
  const deprecatedTag = deprecatedTagFor(request.version)
  await publisher.putManifest(deprecatedTag, await publisher.getManifest(request.digest))
  const head = (await registry.resolveDigest(repository, channel, {signal})).digest
  if (head !== request.digest || request.good === undefined || request.good === request.digest) return {channel, channelHead: head, deprecatedTag, digest: request.digest, version: request.version}
  await publisher.putManifest(channel, await publisher.getManifest(request.good))
  return {channel, channelHead: request.good, channelMovedTo: request.good, deprecatedTag, digest: request.digest, version: request.version}
}

/** The canary's retraction of a digest it rolled back: its CalVer is found by matching recent version tags. */
export async function retractDigest(request: RetractRequest & {channel: Channel; digest: string; good: string}): Promise<Retraction> {
  const version = await versionOfDigest(request.registry, request.repository, request.channel, request.digest, request.signal)
  if (!version) {
    throw new NotFoundError(`none of the newest ${RECENT_TAGS_RESOLVED} ${request.channel} versions points at ${request.digest.slice(0, 19)}…, so it has no CalVer to deprecate`, {
      hint: 'Retract it by hand with `agnes release retract <version>` once you know its version.',
    })
  }

  return retract({...request, version})
}

/**
 * `agnes release retract <version>`: the previous good build is the newest older version of the same channel
 * that is not deprecated and has another digest. Costs a tag listing and a HEAD per version looked at.
 */
export async function retractVersion(request: RetractRequest & {version: string}): Promise<Retraction> {
  const {channel} = validateVersionTag(request.version)
  const {registry, repository, signal} = request
  const digest = (await registry.resolveDigest(repository, request.version, {signal})).digest
  const tags = await registry.listTags(repository, {signal})
  const deprecated = new Set(sortDeprecatedTags(tags))
  const older = sortVersionTags(tags, channel).filter((tag) => tag !== request.version && !deprecated.has(deprecatedTagFor(tag)))
  let good: string | undefined
  for (const tag of older.filter((candidate) => sortVersionTags([candidate, request.version])[0] === request.version).slice(0, RECENT_TAGS_RESOLVED)) {
    const candidate = (await registry.resolveDigest(repository, tag, {signal})).digest
    if (candidate !== digest) {
      good = candidate
      break
    }
  }

  return retract({...request, digest, good, version: request.version})
}

export interface ReleaseRetractOptions {
  version: string
  /** The image repository; default: the instance's (from --dir). */
  repository?: string
  dir: string
  signal?: AbortSignal
  deps?: Pick<DeployDeps, 'openRegistry' | 'openPublisher'>
}

/** `agnes release retract`: the publisher's rollback by hand, recorded in the instance's history when there is one. */
export async function releaseRetract(options: ReleaseRetractOptions): Promise<Retraction & {repository: string}> {
  validateVersionTag(options.version)
  const started = Date.now()
  const deps = options.deps ?? hostDeployDeps
  const paths = instancePaths(options.dir)
  const state = options.repository ? undefined : await readState(paths)
  const repository = options.repository ?? state?.repository
  if (!repository) {
    throw new InvalidInputError(`no image repository: ${paths.dir} is not an agnes instance`, {hint: 'Pass --image <registry/name>, or --dir with an instance directory.'})
  }

  const registry = deps.openRegistry(options.signal)
  try {
    const retraction = await retractVersion({publisher: deps.openPublisher(repository, options.signal), registry, repository, signal: options.signal, version: options.version})
    if (state) {
      await appendHistory(paths, {action: 'retract', durationMs: Date.now() - started, from: {digest: retraction.digest, version: retraction.version}, outcome: 'retracted', time: new Date().toISOString(), to: retraction.channelMovedTo ? {digest: retraction.channelMovedTo, tag: retraction.channel} : undefined})
    }

    return {...retraction, repository}
  } finally {
    await registry.close()
  }
}
