import {IncomingHttpHeaders, createServer} from 'node:http'
import {AddressInfo} from 'node:net'

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

export interface RecordingServer {
  port: number
  requests: RecordedRequest[]
  close(): Promise<void>
}

/**
 * A stranger on 127.0.0.1 that records every request it gets. It answers health checks as a healthy Agnes
 * would and everything else with 200 `{}`, so a client that wrongly trusts it goes on to send what it holds.
 */
export async function startRecordingServer(): Promise<RecordingServer> {
  const requests: RecordedRequest[] = []
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
    request.on('end', () => {
      requests.push({body, headers: request.headers, method: request.method ?? '', url: request.url ?? ''})
      const healthy = request.url?.startsWith('/api/health') ? {db_schema: 'ok', status: 'ok'} : {}
      response.writeHead(200, {'content-type': 'application/json'})
      response.end(JSON.stringify(healthy))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
    port: (server.address() as AddressInfo).port,
    requests,
  }
}
