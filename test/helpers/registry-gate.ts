import http from 'node:http'

/**
 * A plain HTTP proxy in front of the local registry on a port of its own, that can make the registry "go
 * away": once armed, it lets the next manifest request through, then stops listening, so every later
 * connection (Docker's pull) is refused, as when a registry goes down between resolve and pull. `reopen()`
 * listens on the same port again, so an instance whose image repository names the gate keeps working.
 */
export interface RegistryGate {
  /** host:port of the gate, to use in place of the registry's in an image repository. */
  host: string
  /** Lets the next manifest request through, then closes the gate; resolves once it is closed. */
  closeAfterNextManifest(): Promise<void>
  /** Manifest requests answered since the gate was last armed. */
  manifestRequests(): number
  reopen(): Promise<void>
  close(): Promise<void>
}

export async function startRegistryGate(upstream = {host: '127.0.0.1', port: 5000}): Promise<RegistryGate> {
  let armed: (() => void) | undefined
  let manifests = 0
  let server = createProxy()
  let port = 0

  function createProxy(): http.Server {
    const proxy = http.createServer((request, response) => {
      const isManifest = /\/manifests\//.test((request.url ?? '').split('?')[0])
      if (isManifest) manifests++
      const forward = http.request({headers: request.headers, host: upstream.host, method: request.method, path: request.url, port: upstream.port}, (answer) => {
        const headers = {...answer.headers}
        if (typeof headers.location === 'string') headers.location = headers.location.replace(`//${upstream.host}:${upstream.port}`, `//${request.headers.host}`)
        response.writeHead(answer.statusCode ?? 502, headers)
        answer.pipe(response)
      })
      forward.on('error', () => {
        if (!response.headersSent) response.writeHead(502, {'content-type': 'text/plain'})
        response.end('bad gateway')
      })
      request.pipe(forward)
      if (isManifest && armed) {
        const close = armed
        armed = undefined
        response.on('finish', close)
      }
    })
    // Docker may try TLS first on an insecure registry and fall back to plain HTTP.
    proxy.on('clientError', (_error, socket) => socket.destroy())
    return proxy
  }

  function listen(target: http.Server, onPort: number): Promise<number> {
    return new Promise((resolve, reject) => {
      target.once('error', reject)
      target.listen(onPort, '127.0.0.1', () => {
        const address = target.address()
        resolve(typeof address === 'object' && address ? address.port : 0)
      })
    })
  }

  function shut(target: http.Server): Promise<void> {
    return new Promise((resolve) => {
      if (!target.listening) return resolve()
      target.close(() => resolve())
      target.closeAllConnections()
    })
  }

  port = await listen(server, 0)
  return {
    close: () => shut(server),
    closeAfterNextManifest() {
      manifests = 0
      return new Promise((resolve) => {
        armed = () => {
          void shut(server).then(resolve)
        }
      })
    },
    host: `127.0.0.1:${port}`,
    manifestRequests: () => manifests,
    async reopen() {
      await shut(server)
      server = createProxy()
      await listen(server, port)
    },
  }
}
