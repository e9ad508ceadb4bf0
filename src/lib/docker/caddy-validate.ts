import {stat} from 'node:fs/promises'
import {resolve} from 'node:path'

import {AgnesError, ProxyConfigError} from '../errors.js'
import {Instance} from '../instance/state.js'
import {Compose} from './compose.js'

const CADDY_SERVICE = 'caddy'
const CERT_FILES = ['fullchain.pem', 'privkey.pem']

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
