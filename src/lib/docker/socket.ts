import {request} from 'node:http'

import {DockerError} from '../errors.js'

/**
 * A minimal GET against the Docker engine API over its unix socket, for the cron no-op path: loading
 * dockerode costs ~200 ms, more than the whole tick may take.
 */
export function engineGet<T>(path: string, timeoutMs = 5000): Promise<T> {
  const host = process.env.DOCKER_HOST
  const socketPath = host?.startsWith('unix://') ? host.slice('unix://'.length) : host ? undefined : '/var/run/docker.sock'
  if (!socketPath) return Promise.reject(new DockerError(`DOCKER_HOST=${host} is not a unix socket; use the full engine client`))
  return new Promise((resolve, reject) => {
    const req = request({path, socketPath, timeout: timeoutMs}, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        if ((response.statusCode ?? 500) >= 400) {
          reject(new DockerError(`the Docker engine answered ${response.statusCode} to ${path}`))
          return
        }

        try {
          resolve(JSON.parse(body) as T)
        } catch {
          reject(new DockerError(`the Docker engine sent an unreadable answer to ${path}`))
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', (error) => reject(new DockerError(`the Docker engine is not reachable at ${socketPath} (${(error as NodeJS.ErrnoException).code ?? error.message})`, {hint: 'Start it (`systemctl start docker`) and check DOCKER_HOST.'})))
    req.end()
  })
}

/** The manifest digest the project's running app container was started from, if it runs. */
export async function runningAppDigest(project: string, repository: string): Promise<{digest?: string; running: boolean}> {
  const filters = JSON.stringify({label: [`com.docker.compose.project=${project}`, 'com.docker.compose.service=app'], status: ['running']})
  const containers = await engineGet<Array<{ImageID: string}>>(`/containers/json?filters=${encodeURIComponent(filters)}`)
  if (containers.length === 0) return {running: false}
  const image = await engineGet<{RepoDigests?: string[]}>(`/images/${encodeURIComponent(containers[0].ImageID)}/json`)
  const entry = (image.RepoDigests ?? []).find((candidate) => candidate.startsWith(`${repository}@`))
  return {digest: entry?.slice(repository.length + 1), running: true}
}
