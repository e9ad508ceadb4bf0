import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {FleetInstance, Inventory, describeTarget} from './inventory.js'
import {shellCommandLine} from './quote.js'

/** What a remote `agnes … --json` answered: its exit code and its JSON envelope (none when it never ran). */
export interface RemoteAnswer {
  exitCode: number
  envelope?: {ok: boolean; result?: unknown; error?: {code: string; message: string; hint?: string; exitCode: number}}
  /** Why the command could not be run or read (ssh failed, no JSON). */
  problem?: string
}

export interface Transport {
  /** Runs `agnes <args> --dir <dir> --json` for the instance. */
  agnes(instance: FleetInstance, args: string[], signal?: AbortSignal): Promise<RemoteAnswer>
  /** Runs `agnes <args> --json` on the instance's host, without its directory (one command for the host). */
  agnesOnHost(instance: FleetInstance, args: string[]): Promise<RemoteAnswer>
  /** The remote agnes version (`agnes --version`), or a problem. */
  version(instance: FleetInstance): Promise<{version?: string; problem?: string}>
  close(): Promise<void>
}

/** The oldest remote agnes that speaks the fleet's commands (`status`, `upgrade`, `smoke`, `reject` with --json). */
export const MIN_REMOTE_AGNES = '0.1.0'

export function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map(Number)
  const b = minimum.split('.').map(Number)
  for (let index = 0; index < 3; index++) {
    if ((a[index] ?? 0) !== (b[index] ?? 0)) return (a[index] ?? 0) > (b[index] ?? 0)
  }

  return true
}

/** The argument array for the system's OpenSSH client: batch mode, multiplexed, host keys verified. */
export function sshArgv(instance: FleetInstance, remote: string[], options: {controlDir: string; knownHosts?: string; identityFile?: string}): string[] {
  const {target} = instance
  if (target.kind !== 'ssh') throw new Error('not an ssh target')
  const argv = ['-o', 'BatchMode=yes', '-o', 'ControlMaster=auto', '-o', `ControlPath=${join(options.controlDir, '%C')}`, '-o', 'ControlPersist=60', '-o', 'ConnectTimeout=10']
  if (options.knownHosts) argv.push('-o', `UserKnownHostsFile=${options.knownHosts}`)
  if (options.identityFile) argv.push('-o', 'IdentitiesOnly=yes', '-i', options.identityFile)
  argv.push('-p', String(target.port))
  if (target.user) argv.push('-l', target.user)
  argv.push('--', target.host, shellCommandLine(remote))
  return argv
}

function parseEnvelope(stdout: string): RemoteAnswer['envelope'] {
  try {
    const envelope = JSON.parse(stdout) as RemoteAnswer['envelope']
    return typeof envelope === 'object' && envelope !== null && typeof envelope.ok === 'boolean' ? envelope : undefined
  } catch {
    return undefined
  }
}

/** The telling line of what ssh or agnes said on stderr, for "unreachable" reports (never the whole output). */
export function tellingLine(text: string): string {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('@') && !line.startsWith('Warning: Permanently added'))
  return (lines.find((line) => /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|Permission denied|Connection refused|Connection timed out|Could not resolve|No route to host/.test(line)) ?? lines.at(-1) ?? '').slice(0, 300)
}

/** How to run this same agnes: node and its script, or the single executable itself. */
async function thisAgnes(): Promise<string[]> {
  const sea = await import('node:sea').catch(() => undefined)
  return sea?.isSea() ? [process.execPath] : [process.execPath, process.argv[1]]
}

/**
 * The OpenSSH transport: `ssh … -- host '<agnes>' '<arg>'…` with every remote word quoted; `local`
 * instances run this same agnes (or AGNES_FLEET_AGNES) directly. The children run in their own process
 * group so a Ctrl-C in the terminal reaches only this process, which then waits for them.
 */
export async function createSshTransport(inventory: Inventory, env: NodeJS.ProcessEnv = process.env): Promise<Transport> {
  const {execa} = await import('execa')
  const controlDir = await mkdtemp(join(tmpdir(), 'agnes-fleet-'))
  const localAgnes = env.AGNES_FLEET_AGNES ? [env.AGNES_FLEET_AGNES] : await thisAgnes()
  const connected = new Map<string, FleetInstance>()
  const versions = new Map<string, Promise<{version?: string; problem?: string}>>()

  async function run(instance: FleetInstance, words: string[]): Promise<{exitCode: number; stdout: string; stderr: string}> {
    const [file, ...args] =
      instance.target.kind === 'local'
        ? [...localAgnes, ...words]
        : ['ssh', ...sshArgv(instance, [inventory.agnes, ...words], {controlDir, identityFile: inventory.ssh.identityFile, knownHosts: inventory.ssh.knownHosts})]
    if (instance.target.kind === 'ssh') connected.set(describeTarget(instance.target), instance)
    const child = await execa(file, args, {detached: true, env: {...env, NO_COLOR: '1'}, reject: false, stdin: 'ignore'})
    return {exitCode: child.exitCode ?? 1, stderr: String(child.stderr ?? ''), stdout: String(child.stdout ?? '')}
  }

  async function askVersion(instance: FleetInstance): Promise<{version?: string; problem?: string}> {
    const {exitCode, stderr, stdout} = await run(instance, ['--version'])
    const match = /agnes\/(\d+\.\d+\.\d+)/.exec(stdout)
    if (exitCode === 0 && match) return {version: match[1]}
    const why = exitCode === 255 ? `ssh to ${describeTarget(instance.target)} failed` : exitCode === 127 ? 'agnes is not installed (or not on PATH) there' : `agnes --version failed (exit ${exitCode})`
    return {problem: `${why}: ${tellingLine(stderr) || 'no message'}`}
  }

  /** An ssh that failed (255) or an agnes that is not there (127) is exit 8, the instance unreachable. */
  async function answer(instance: FleetInstance, words: string[]): Promise<RemoteAnswer> {
    const {exitCode, stderr, stdout} = await run(instance, [...words, '--json'])
    const envelope = parseEnvelope(stdout)
    if (envelope) return {envelope, exitCode}
    const why = instance.target.kind === 'ssh' && exitCode === 255 ? `ssh to ${describeTarget(instance.target)} failed` : exitCode === 127 ? 'agnes is not installed (or not on PATH) there' : `agnes gave no JSON (exit ${exitCode})`
    return {exitCode: exitCode === 255 || exitCode === 127 ? 8 : exitCode, problem: `${why}: ${tellingLine(stderr) || 'no message'}`}
  }

  return {
    agnes: (instance, args) => answer(instance, [...args, '--dir', instance.dir]),
    agnesOnHost: (instance, args) => answer(instance, args),
    async close() {
      // Ends the multiplexing masters now rather than ControlPersist seconds after this run.
      await Promise.all(
        [...connected.values()].map((instance) => {
          const argv = sshArgv(instance, [], {controlDir})
          return execa('ssh', ['-O', 'exit', ...argv.slice(0, -1)], {reject: false, stdio: 'ignore'})
        }),
      )
      await rm(controlDir, {force: true, recursive: true})
    },
    version(instance) {
      // One answer per host: the instances of a host share its agnes.
      const key = describeTarget(instance.target)
      let answer = versions.get(key)
      if (!answer) versions.set(key, (answer = askVersion(instance)))
      return answer
    },
  }
}
