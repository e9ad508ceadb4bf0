import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {Agent, type AgentOptions} from 'node:http'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {Duplex} from 'node:stream'

import {InvalidInputError} from '../errors.js'

/** Where the Docker engine API is, from DOCKER_HOST the way the docker CLI reads it. */
export type EngineEndpoint =
  | {kind: 'unix'; socketPath: string; label: string}
  | {kind: 'tcp'; host: string; port: number; tls?: {ca: Buffer; cert: Buffer; key: Buffer}; label: string}
  | {kind: 'ssh'; host: string; port?: number; user?: string; label: string}

const DEFAULT_SOCKET = '/var/run/docker.sock'

function badHost(value: string, problem: string): InvalidInputError {
  return new InvalidInputError(`DOCKER_HOST=${value} ${problem}`, {
    hint: 'Set DOCKER_HOST to unix:///path/to/docker.sock, tcp://host:port or ssh://[user@]host[:port], or unset it for the local engine.',
  })
}

function readCertificates(value: string, env: NodeJS.ProcessEnv): {ca: Buffer; cert: Buffer; key: Buffer} {
  const dir = env.DOCKER_CERT_PATH || join(env.HOME || homedir(), '.docker')
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name))
    } catch (error) {
      throw new InvalidInputError(`DOCKER_HOST=${value} uses TLS, but ${join(dir, name)} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
        hint: 'Put ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (default ~/.docker), or unset DOCKER_TLS_VERIFY for a plain tcp:// engine.',
      })
    }
  }

  return {ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem')}
}

/** Parses DOCKER_HOST: unset or unix:// is a socket, tcp:// plain or TLS (DOCKER_TLS_VERIFY, port 2376), ssh:// through OpenSSH. */
export function engineEndpoint(env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  const value = env.DOCKER_HOST?.trim()
  if (!value) return {kind: 'unix', label: DEFAULT_SOCKET, socketPath: DEFAULT_SOCKET}
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length) || DEFAULT_SOCKET
    return {kind: 'unix', label: socketPath, socketPath}
  }

  let url: URL
  try {
    // Like the docker CLI, a bare host:port means tcp.
    url = new URL(value.includes('://') ? value : `tcp://${value}`)
  } catch {
    throw badHost(value, 'is not a URL the Docker engine can be reached at')
  }

  if (url.pathname !== '' && url.pathname !== '/') throw badHost(value, 'has a path; agnes reaches the engine at host and port only')
  if (url.protocol === 'tcp:') {
    if (!url.hostname) throw badHost(value, 'names no host')
    const verify = Boolean(env.DOCKER_TLS_VERIFY) || url.port === '2376'
    const port = url.port ? Number(url.port) : verify ? 2376 : 2375
    return {host: url.hostname.replace(/^\[|\]$/g, ''), kind: 'tcp', label: value, port, ...(verify ? {tls: readCertificates(value, env)} : {})}
  }

  if (url.protocol === 'ssh:') {
    if (!url.hostname) throw badHost(value, 'names no host')
    if (url.password) throw badHost(value, 'holds a password; use an SSH key or agent instead')
    return {host: url.hostname, kind: 'ssh', label: value, ...(url.port ? {port: Number(url.port)} : {}), ...(url.username ? {user: decodeURIComponent(url.username)} : {})}
  }

  throw badHost(value, `uses ${url.protocol.replace(/:$/, '')}://, which agnes does not support`)
}

/**
 * The OpenSSH command that connects to the remote engine, as the docker CLI does it: `docker system
 * dial-stdio` on the remote host bridges stdin/stdout to its engine socket. The system client verifies
 * the host key against known_hosts and uses the operator's keys, agent and ~/.ssh/config.
 */
export function sshDialArgs(endpoint: Extract<EngineEndpoint, {kind: 'ssh'}>): string[] {
  return [
    '-o',
    'ConnectTimeout=30',
    '-T',
    ...(endpoint.user ? ['-l', endpoint.user] : []),
    ...(endpoint.port ? ['-p', String(endpoint.port)] : []),
    '--',
    endpoint.host,
    'docker',
    'system',
    'dial-stdio',
  ]
}

/** An HTTP agent whose every connection is one `ssh … docker system dial-stdio` process. */
export class SshDialAgent extends Agent {
  /** The last line ssh printed on stderr, for error messages (host key, permission denied, no docker). */
  lastProblem?: string

  constructor(
    private readonly endpoint: Extract<EngineEndpoint, {kind: 'ssh'}>,
    options: AgentOptions = {},
  ) {
    super(options)
  }

  override createConnection(): Duplex {
    const child = spawn('ssh', sshDialArgs(this.endpoint), {stdio: ['pipe', 'pipe', 'pipe']})
    const stream = Duplex.from({readable: child.stdout, writable: child.stdin})
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      const line = chunk.trim().split('\n').at(-1)
      if (line) this.lastProblem = line
    })
    child.on('error', (error: NodeJS.ErrnoException) => {
      this.lastProblem = error.code === 'ENOENT' ? `the OpenSSH client (ssh) is not installed; DOCKER_HOST=${this.endpoint.label} needs it` : error.message
      stream.destroy(new Error(this.lastProblem))
    })
    stream.on('close', () => child.kill())
    // Node's HTTP client tunes a socket with these; a pipe to ssh has nothing to tune.
    return Object.assign(stream, {ref: () => stream, setKeepAlive: () => stream, setNoDelay: () => stream, setTimeout: () => stream, unref: () => stream})
  }
}

/** How to send one HTTP request to the engine: node's request options and, for ssh, the agent to ask about failures. */
export interface EngineTransport {
  secure: boolean
  options: {socketPath?: string; host?: string; port?: number; ca?: Buffer; cert?: Buffer; key?: Buffer; agent?: Agent}
  sshAgent?: SshDialAgent
}

export function engineTransport(endpoint: EngineEndpoint): EngineTransport {
  if (endpoint.kind === 'unix') return {options: {socketPath: endpoint.socketPath}, secure: false}
  if (endpoint.kind === 'tcp') return {options: {host: endpoint.host, port: endpoint.port, ...endpoint.tls}, secure: endpoint.tls !== undefined}
  const sshAgent = new SshDialAgent(endpoint)
  // The host name only fills the Host header: the agent's connection is the ssh pipe.
  return {options: {agent: sshAgent, host: 'docker'}, secure: false, sshAgent}
}

/** Why a request to the engine failed, in a few words: ssh's own complaint, or the socket error code. */
export function engineFailure(transport: EngineTransport, error: unknown): string {
  return transport.sshAgent?.lastProblem ?? (error as NodeJS.ErrnoException).code ?? (error as Error).message ?? String(error)
}
