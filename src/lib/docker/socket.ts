import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'

import {DockerError} from '../errors.js'
import {projectOwnedElsewhere, projectOwners} from '../instance/project.js'
import {engineEndpoint, engineFailure, engineTransport} from './endpoint.js'

/**
 * A minimal GET against the Docker engine API (unix socket, tcp, TLS or ssh, as DOCKER_HOST says), for the
 * cron no-op path: loading dockerode costs ~200 ms, more than the whole tick may take.
 */
export function engineGet<T>(path: string, timeoutMs = 5000): Promise<T> {
  let endpoint
  try {
    endpoint = engineEndpoint()
  } catch (error) {
    return Promise.reject(error)
  }

  const transport = engineTransport(endpoint)
  const request = transport.secure ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = request({...transport.options, path}, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        clearTimeout(timer)
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
    // A timer rather than the socket's idle timeout: an ssh pipe has no socket timeout.
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), {code: 'ETIMEDOUT'})), timeoutMs)
    req.on('error', (error) => {
      clearTimeout(timer)
      reject(new DockerError(`the Docker engine is not reachable at ${endpoint.label} (${engineFailure(transport, error)})`, {hint: 'Start it (`systemctl start docker`) and check DOCKER_HOST.'}))
    })
    req.end()
  })
}

/**
 * The manifest digest the project's running app container was started from, if it runs. The container's
 * Compose labels say which directory runs it: one that belongs to another existing directory is refused
 * (exit 7) here too, without another round-trip to the engine.
 */
export async function runningAppDigest(project: string, repository: string, dir: string): Promise<{digest?: string; running: boolean}> {
  const filters = JSON.stringify({label: [`com.docker.compose.project=${project}`, 'com.docker.compose.service=app'], status: ['running']})
  const containers = await engineGet<Array<{ImageID: string; Names?: string[]; Labels?: Record<string, string>}>>(`/containers/json?filters=${encodeURIComponent(filters)}`)
  if (containers.length === 0) return {running: false}
  const resources = containers.map((container) => ({
    kind: 'container' as const,
    name: (container.Names?.[0] ?? '').replace(/^\//, ''),
    project: container.Labels?.['com.docker.compose.project'] ?? project,
    workingDir: container.Labels?.['com.docker.compose.project.working_dir'],
  }))
  const owners = projectOwners(project, dir, resources)
  if (owners.foreign.length > 0) throw projectOwnedElsewhere(project, dir, owners.foreign[0])
  const image = await engineGet<{RepoDigests?: string[]}>(`/images/${encodeURIComponent(containers[0].ImageID)}/json`)
  const entry = (image.RepoDigests ?? []).find((candidate) => candidate.startsWith(`${repository}@`))
  return {digest: entry?.slice(repository.length + 1), running: true}
}
