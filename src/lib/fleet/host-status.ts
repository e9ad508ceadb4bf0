import {detectCompose, type ComposeCommand} from '../docker/compose.js'
import {DockerEngine} from '../docker/engine.js'
import {instanceStatus, type StatusDeps, type StatusResult} from '../deploy/status.js'
import {toAgnesError} from '../errors.js'

export type HostStatusEntry =
  | {dir: string; ok: true; result: StatusResult}
  | {dir: string; ok: false; error: {code: string; message: string; hint?: string; exitCode: number}}

/** What `agnes fleet host-status` answers: one entry per directory named, in the order named. */
export interface HostStatusResult {
  agnesVersion: string
  instances: HostStatusEntry[]
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined
  return () => (made ??= make())
}

/**
 * The status of each directory, all read at once in this process, sharing one engine connection and one
 * compose detection. A directory that cannot be read is an entry with the error `agnes status` gives for it.
 */
export async function hostStatus(dirs: readonly string[], options: {agnesVersion: string; signal?: AbortSignal; read?: typeof instanceStatus}): Promise<HostStatusResult> {
  const read = options.read ?? instanceStatus
  const shared: StatusDeps = {compose: once<ComposeCommand>(() => detectCompose()), engine: once(() => DockerEngine.connect())}
  const instances = await Promise.all(
    dirs.map(async (dir): Promise<HostStatusEntry> => {
      try {
        return {dir, ok: true, result: await read(dir, options.signal, shared)}
      } catch (error) {
        const {code, exitCode, hint, message} = toAgnesError(error)
        return {dir, error: {code, exitCode, message, ...(hint ? {hint} : {})}, ok: false}
      }
    }),
  )
  options.signal?.throwIfAborted()
  return {agnesVersion: options.agnesVersion, instances}
}
