// A transparent, counting HTTP proxy in front of the local registry. The bench instance uses
// 127.0.0.1:<proxy port>/<name> as its image repository, so every registry request that either the CLI or
// Docker (pull) makes for it is counted here, by kind: ping, manifest (HEAD/GET), blob (HEAD/GET), tags.
import http from 'node:http'

export function requestKind(method, url) {
  const path = url.split('?')[0]
  if (path === '/v2/' || path === '/v2') return 'ping'
  if (/\/manifests\//.test(path)) return `manifest ${method}`
  if (/\/blobs\//.test(path)) return `blob ${method}`
  if (/\/tags\/list$/.test(path)) return 'tags'
  return `other ${method}`
}

export async function startCountingProxy({upstreamHost = '127.0.0.1', upstreamPort = 5000} = {}) {
  const log = []
  let nonHttp = 0
  const server = http.createServer((request, response) => {
    const entry = {at: Date.now(), method: request.method, path: request.url, kind: requestKind(request.method, request.url), status: 0, bytes: 0}
    log.push(entry)
    const upstream = http.request({host: upstreamHost, port: upstreamPort, method: request.method, path: request.url, headers: request.headers}, (answer) => {
      entry.status = answer.statusCode
      const headers = {...answer.headers}
      if (typeof headers.location === 'string') headers.location = headers.location.replace(`//${upstreamHost}:${upstreamPort}`, `//${request.headers.host}`)
      response.writeHead(answer.statusCode, headers)
      answer.on('data', (chunk) => (entry.bytes += chunk.length))
      answer.pipe(response)
    })
    upstream.on('error', (error) => {
      entry.status = 502
      entry.error = error.code ?? error.message
      if (!response.headersSent) response.writeHead(502, {'content-type': 'text/plain'})
      response.end('bad gateway')
    })
    request.pipe(upstream)
  })
  // Docker tries TLS first on an insecure registry and falls back to plain HTTP: that handshake lands here.
  server.on('clientError', (_error, socket) => {
    nonHttp++
    socket.destroy()
  })
  await new Promise((resolvePromise, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolvePromise)
  })
  const {port} = server.address()
  return {
    port,
    host: `127.0.0.1:${port}`,
    /** Requests since `mark` (an index from mark()), summarised by kind. */
    mark: () => log.length,
    since(mark) {
      const entries = log.slice(mark)
      const byKind = {}
      let bytes = 0
      for (const entry of entries) {
        byKind[entry.kind] = (byKind[entry.kind] ?? 0) + 1
        bytes += entry.bytes
      }

      const blobGets = entries.filter((entry) => entry.kind === 'blob GET').length
      return {total: entries.length, byKind, blobGets, bytes}
    },
    nonHttp: () => nonHttp,
    close: () => new Promise((resolvePromise) => {
      server.closeAllConnections?.()
      server.close(() => resolvePromise())
    }),
  }
}
