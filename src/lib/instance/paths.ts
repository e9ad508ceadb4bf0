import {basename, join, resolve} from 'node:path'

import {resolveInstanceDir} from './safe-path.js'

/** Where everything of one instance lives (docs/architecture.md "State on disk"). */
export interface InstancePaths {
  dir: string
  compose: string
  override: string
  env: string
  configDir: string
  instanceYaml: string
  caddyfile: string
  /** The page Caddy serves with 503 while the app restarts. */
  maintenancePage: string
  /** The CLI's own state. */
  agnesDir: string
  stateFile: string
  secretsFile: string
  historyFile: string
  lockFile: string
  journalFile: string
  backupsDir: string
}

/**
 * The paths of the instance in dir, under its real path: the directory may be reached through a symbolic
 * link, resolved here once; nothing inside it may be one (safe-path.ts).
 */
export function instancePaths(dir: string): InstancePaths {
  const root = resolveInstanceDir(dir)
  const agnesDir = join(root, '.agnes')
  return {
    agnesDir,
    backupsDir: join(agnesDir, 'backups'),
    caddyfile: join(root, 'Caddyfile'),
    compose: join(root, 'docker-compose.yml'),
    configDir: join(root, 'config'),
    dir: root,
    env: join(root, '.env'),
    historyFile: join(agnesDir, 'history.jsonl'),
    instanceYaml: join(root, 'config', 'instance.yaml'),
    journalFile: join(agnesDir, 'journal.json'),
    lockFile: join(agnesDir, 'lock'),
    maintenancePage: join(root, 'static', 'maintenance.html'),
    override: join(root, 'docker-compose.override.yml'),
    secretsFile: join(agnesDir, 'secrets.env'),
    stateFile: join(agnesDir, 'state.json'),
  }
}

/**
 * A Compose project name from the directory name: lowercase letters, digits, `-` and `_`, starting with a
 * letter or digit, so it can never be read as a flag (`--foo`) on a command line.
 */
export function projectNameFor(dir: string): string {
  const base = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '')
  return base === '' ? 'agnes' : base.slice(0, 48)
}
