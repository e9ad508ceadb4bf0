import {mkdtemp, rm, stat, symlink} from 'node:fs/promises'
import {join, resolve} from 'node:path'

import {AgnesError, ProxyConfigError} from '../errors.js'
import {writeFileAtomic} from '../fs-atomic.js'
import {instancePaths} from '../instance/paths.js'
import {Instance, InstanceState, parseEnv, readTextIfExists} from '../instance/state.js'
import {Compose, detectCompose} from './compose.js'

const CADDY_SERVICE = 'caddy'
const CERT_FILES = ['fullchain.pem', 'privkey.pem']
/** The instance files the caddy service reads, as paths relative to the instance directory. */
const CADDY_INPUTS = ['docker-compose.yml', '.env', 'Caddyfile', join('static', 'maintenance.html')]

async function nonEmptyFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path)
    return info.isFile() && info.size > 0
  } catch {
    return false
  }
}

/** Caddy's own error line (`Error: …`) from compose's failure message, or undefined when Caddy never ran. */
function caddyErrorLine(message: string): string | undefined {
  const lines = message.split('\n').map((line) => line.trim())
  return lines.reverse().find((line) => line.startsWith('Error: '))?.slice('Error: '.length)
}

/**
 * Checks the instance's Caddy configuration the way the caddy service will load it, before anything is
 * (re)started: the Caddyfile and the maintenance page are there, the certificate files are there in
 * cert-file mode, and `caddy validate` accepts the Caddyfile with the service's own image, mounts and
 * environment (so a bad CADDY_TLS, a DOMAIN_ALIAS equal to DOMAIN or a key that does not match its
 * certificate is caught here, not by a crashing proxy).
 */
export async function validateCaddyConfig(instance: Instance, compose: Compose, signal?: AbortSignal): Promise<void> {
  const {env, paths} = instance
  const hint = 'Re-run `agnes init` to rewrite the Caddyfile and the TLS settings; nothing was restarted.'
  if (!(await nonEmptyFile(paths.caddyfile))) throw new ProxyConfigError(`${paths.caddyfile} is missing or empty`, {hint})
  if (!(await nonEmptyFile(paths.maintenancePage))) throw new ProxyConfigError(`${paths.maintenancePage} is missing or empty`, {hint})

  const tls = env.get('CADDY_TLS') ?? ''
  if (tls === '' || tls.startsWith('tls /certs/')) {
    const certDir = resolve(paths.dir, env.get('AGNES_TLS_CERT_DIR') || 'certs')
    for (const name of CERT_FILES) {
      const file = resolve(certDir, name)
      if (!(await nonEmptyFile(file))) {
        throw new ProxyConfigError(`the certificate file ${file} is missing or empty`, {
          hint: 'Put fullchain.pem and privkey.pem in that directory (or point `agnes init --tls-cert-dir` at them); nothing was restarted.',
        })
      }
    }
  }

  try {
    await compose.exec(['run', '--rm', '--no-deps', '-T', '--entrypoint', 'caddy', CADDY_SERVICE, 'validate', '--config', '/etc/caddy/Caddyfile', '--adapter', 'caddyfile'], {signal, timeoutMs: 5 * 60_000})
  } catch (error) {
    const reason = error instanceof AgnesError ? caddyErrorLine(error.message) : undefined
    if (reason === undefined) throw error
    throw new ProxyConfigError(`Caddy refuses the configuration: ${reason}`, {hint})
  }
}

/** What validatePlannedCaddyConfig needs of an init plan (src/lib/init/types.ts). */
export interface PlannedInstanceFiles {
  dir: string
  state: InstanceState
  files: Array<{path: string; action: string; content: string; mode: number}>
}

/**
 * Before init rewrites the files of a deployed TLS instance: the planned Caddyfile, .env and compose file go
 * to a scratch copy of the instance (same compose project, so the same volumes) and must pass
 * validateCaddyConfig there; otherwise init writes nothing and the running Caddy keeps the files it has.
 */
export async function validatePlannedCaddyConfig(plan: PlannedInstanceFiles, signal?: AbortSignal): Promise<void> {
  if (plan.state.tls === 'none' || plan.state.current === undefined) return
  if (!plan.files.some((file) => file.action === 'create' || file.action === 'update')) return
  const paths = instancePaths(plan.dir)
  const scratch = await mkdtemp(join(paths.agnesDir, 'caddy-check-'))
  try {
    const scratchPaths = instancePaths(scratch)
    const planned = (path: string) => plan.files.find((file) => file.path === path && file.action !== 'keep')
    for (const name of CADDY_INPUTS) {
      const file = planned(name)
      const onDisk = file ? undefined : await readTextIfExists(join(paths.dir, name))
      if (file || onDisk !== undefined) await writeFileAtomic(join(scratch, name), file?.content ?? onDisk ?? '', file?.mode ?? 0o600)
    }

    // The compose default for the cert directory is ./certs, relative to the instance.
    await symlink(join(paths.dir, 'certs'), join(scratch, 'certs'))
    const envFile = planned('.env')
    const instance: Instance = {env: parseEnv(envFile?.content ?? '', scratchPaths.env), paths: scratchPaths, state: plan.state}
    const compose = new Compose(await detectCompose(), {paths: scratchPaths, profiles: ['tls'], project: plan.state.project})
    await validateCaddyConfig(instance, compose, signal)
  } finally {
    await rm(scratch, {force: true, recursive: true})
  }
}
