import {resolve} from 'node:path'

import {digestReference} from '../image-registry/image-ref.js'
import {instancePaths} from '../instance/paths.js'
import {InstanceState, readTextIfExists} from '../instance/state.js'
import {DeployContext} from './context.js'
import {readJournal} from './journal.js'

/** How many state backups are kept, besides those a rollback may still need. */
export const BACKUPS_KEPT = 5

const WORKING_DIR_LABEL = 'com.docker.compose.project.working_dir'

/**
 * The digests other agnes instances on this host run or keep for rollback, found through the compose
 * working-directory labels of the engine's containers and their `.agnes/state.json` and journal. Undefined
 * when one of them cannot be read: then nobody can tell what is safe to remove.
 */
async function digestsOfOtherInstances(ownDir: string, containers: Array<{Labels?: Record<string, string>}>): Promise<Set<string> | undefined> {
  const dirs = new Set(containers.map((container) => container.Labels?.[WORKING_DIR_LABEL]).filter((dir): dir is string => Boolean(dir)).map((dir) => resolve(dir)))
  dirs.delete(resolve(ownDir))
  const digests = new Set<string>()
  for (const dir of dirs) {
    const paths = instancePaths(dir)
    try {
      const text = await readTextIfExists(paths.stateFile)
      if (text === undefined) continue
      const state = JSON.parse(text) as Partial<InstanceState>
      for (const deployment of [state.current, ...(state.knownGood ?? [])]) if (deployment?.digest) digests.add(deployment.digest)
      const journal = await readJournal(paths)
      if (journal) for (const digest of [journal.from.digest, journal.to.digest]) digests.add(digest)
    } catch {
      return undefined
    }
  }

  return digests
}

/**
 * Removes images this instance deployed and no longer keeps (neither current nor a known-good rollback
 * target), unless any container on the host uses them, running or stopped, or another instance here keeps
 * them for its own rollback.
 */
export async function pruneImages(ctx: DeployContext, deployed: Iterable<string>): Promise<void> {
  const {paths, state} = ctx.instance
  const keep = new Set([state.current?.digest, ...state.knownGood.map((known) => known.digest)])
  const candidates = [...new Set(deployed)].filter((digest) => !keep.has(digest))
  if (candidates.length === 0) return
  const containers = await ctx.engine.api.listContainers({all: true})
  const inUse = new Set(containers.map((container) => container.ImageID))
  const elsewhere = await digestsOfOtherInstances(paths.dir, containers)
  if (!elsewhere) {
    ctx.reporter.warn('kept old images: the state of another agnes instance on this host could not be read.')
    return
  }

  for (const digest of candidates) {
    if (elsewhere.has(digest)) continue
    const reference = digestReference(state.repository, digest)
    const id = await ctx.engine.imageId(reference)
    if (id && !inUse.has(id)) await ctx.engine.removeImage(reference)
  }
}

/** The backups a rollback may need: those taken when a known-good deployment was left (the last switch's among them). */
export function backupsNeeded(state: InstanceState): Array<string | undefined> {
  return [...state.knownGood.map((known) => known.backupBeforeLeaving), state.current?.backupBeforeLeaving]
}
