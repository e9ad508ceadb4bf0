import {X509Certificate} from 'node:crypto'
import {readFileSync, readdirSync} from 'node:fs'
import {readFile, statfs} from 'node:fs/promises'
import {createConnection, createServer} from 'node:net'
import {connect as tlsConnect} from 'node:tls'

import type {CertificateFacts} from './findings.js'

/** Facts about this host that `agnes doctor` reads; each returns undefined rather than throwing. */

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** The hard "Max open files" of a process, from /proc/<pid>/limits. */
export function openFileLimit(limits: string): number | undefined {
  const match = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)
  if (!match) return undefined
  return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1])
}

/** The pids of the local dockerd: its pid file when it names a dockerd, else every dockerd in /proc. */
function dockerdPids(): number[] {
  const isDockerd = (pid: number) => readProc(`/proc/${pid}/comm`)?.trim() === 'dockerd'
  for (const file of ['/var/run/docker.pid', '/run/docker.pid', ...(process.env.XDG_RUNTIME_DIR ? [`${process.env.XDG_RUNTIME_DIR}/docker.pid`] : [])]) {
    const pid = Number(readProc(file)?.trim())
    if (Number.isSafeInteger(pid) && pid > 0 && isDockerd(pid)) return [pid]
  }

  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }

  return entries.filter((name) => /^\d+$/.test(name)).map(Number).filter(isDockerd)
}

/** The open-file limit the local engine can grant a container: dockerd's own hard limit (the lowest, if several run). */
export function engineOpenFileLimit(): {limit?: number; why?: string} {
  const limits = dockerdPids()
    .map((pid) => openFileLimit(readProc(`/proc/${pid}/limits`) ?? ''))
    .filter((limit): limit is number => limit !== undefined)
  if (limits.length === 0) return {why: 'no dockerd process is visible on this host'}
  const limit = Math.min(...limits)
  return Number.isFinite(limit) ? {limit} : {why: 'dockerd has no open-file limit'}
}

export async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const disk = await statfs(path)
    return disk.bavail * disk.bsize
  } catch {
    return undefined
  }
}

function canConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({host: '127.0.0.1', port, timeout: timeoutMs})
    const done = (result: boolean) => {
      socket.destroy()
      resolve(result)
    }

    socket.once('connect', () => done(true))
    socket.once('timeout', () => done(false))
    socket.once('error', () => done(false))
  })
}

/**
 * Whether something listens on a port. Binding tells for certain; where this user may not bind (a port
 * below 1024 without root), a connection to the loopback address tells for local listeners.
 */
export function portInUse(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(true)
      else void canConnect(port, 1000).then(resolve)
    })
    server.listen(port, host, () => server.close(() => resolve(false)))
  })
}

function certificateFacts(cert: X509Certificate, domain: string | undefined): CertificateFacts {
  return {
    matchesDomain: domain === undefined || cert.checkHost(domain) !== undefined,
    subject: cert.subjectAltName ?? cert.subject,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
  }
}

/** The first certificate of a PEM chain file (the server's own). */
export async function certificateFromFile(path: string, domain: string | undefined): Promise<CertificateFacts> {
  const pem = await readFile(path, 'utf8')
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)
  if (!first) throw new Error(`${path} holds no PEM certificate`)
  return certificateFacts(new X509Certificate(first[0]), domain)
}

/** The certificate a TLS server on this host presents for `servername`; it is read, not verified. */
export function servedCertificate(port: number, servername: string | undefined, timeoutMs: number): Promise<CertificateFacts> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({host: '127.0.0.1', port, rejectUnauthorized: false, servername, timeout: timeoutMs})
    const fail = (error: Error) => {
      socket.destroy()
      reject(error)
    }

    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate()
      socket.end()
      if (peer) resolve(certificateFacts(peer, servername))
      else reject(new Error('the server presented no certificate'))
    })
    socket.once('timeout', () => fail(new Error(`no TLS answer on port ${port} within ${timeoutMs / 1000} s`)))
    socket.once('error', (error) => fail(new Error(`port ${port}: ${error.message}`)))
  })
}
