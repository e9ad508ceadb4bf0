import {RegistryClient} from '../image-registry/client.js'
import {withLockedInstance} from '../instance/lock.js'
import {Instance} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'
import {DeployContext, DeployDeps, hostDeployDeps, openDeployContext} from './context.js'
import {readJournal} from './journal.js'
import {CommonSwitchOptions} from './outcome.js'
import {RecoveryOutcome, recoverFromJournal} from './recover.js'

export interface SessionOptions extends CommonSwitchOptions {
  dir: string
  reporter: Reporter
  signal?: AbortSignal
  /** The outside world; the host's by default, fakes in tests. */
  deps?: DeployDeps
}

export interface DeploySession {
  instance: Instance
  deps: DeployDeps
  /** The engine and Compose, opened on first use: a no-op cron tick never loads dockerode. */
  context(): Promise<DeployContext>
  /** Resolves a tag to a digest through the registry API; everything after runs exactly that digest. */
  resolve(tag: string): Promise<string>
  /** The registry API client, opened on first use and closed when the session ends. */
  registry(): RegistryClient
  /** Registry API requests made so far (one on a quiet cron tick). */
  registryRequests(): number
  /** Finishes the journal an interrupted run left, once; the prologue calls it unless `recover: false`. */
  recover(): Promise<RecoveryOutcome | undefined>
}

/**
 * The prologue every switching command shares: take the lock and load the instance (a second run is
 * `locked`, exit 75: docs/design.md#one-run-at-a-time), finish what an interrupted run left in the journal
 * (docs/design.md#crash-safe-the-journal), then run `work`. The engine, Compose and the registry client are
 * opened only when used, and the registry client is closed when the session ends.
 */
export async function withDeploySession<T>(command: string, options: SessionOptions & {recover?: boolean}, work: (session: DeploySession) => Promise<T>): Promise<T> {
  const deps = options.deps ?? hostDeployDeps
  return withLockedInstance(options.dir, command, async (instance) => {
    let ctx: Promise<DeployContext> | undefined
    let registry: RegistryClient | undefined
    let recovery: Promise<RecoveryOutcome | undefined> | undefined
    const session: DeploySession = {
      context: () => (ctx ??= openDeployContext(instance, options.reporter, options.signal, deps)),
      deps,
      instance,
      recover: () =>
        (recovery ??= readJournal(instance.paths).then(async (journal) => (journal ? recoverFromJournal(await session.context(), journal, options) : undefined))),
      registry: () => (registry ??= deps.openRegistry(options.signal)),
      registryRequests: () => registry?.requests ?? 0,
      async resolve(tag) {
        return (await session.registry().resolveDigest(instance.state.repository, tag, {signal: options.signal})).digest
      },
    }
    try {
      if (options.recover !== false) await session.recover()
      return await work(session)
    } finally {
      await registry?.close()
    }
  })
}
