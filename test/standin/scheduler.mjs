// Scheduler mode (`python -m services.scheduler` in the compose file): probe the app with the scheduler
// bearer on an interval, log what it saw, and never crash when the app is down.
import {request as httpRequest} from 'node:http'
import {lookupWithTimeout} from './dns-lookup.mjs'

const PROBE_TIMEOUT_MS = 10_000
const DNS_TIMEOUT_MS = 2000

function getJson(url, headers) {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {headers, lookup: lookupWithTimeout(DNS_TIMEOUT_MS), timeout: PROBE_TIMEOUT_MS}, (response) => {
      const chunks = []
      response.on('data', (chunk) => chunks.push(chunk))
      response.on('end', () => {
        let body = {}
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        } catch {
          // A non-JSON answer still tells the status code.
        }
        resolve({status: response.statusCode, body})
      })
    })
    request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), {code: 'ETIMEDOUT'})))
    request.on('error', reject)
    request.end()
  })
}

export async function runScheduler({apiUrl, intervalSeconds, schedulerToken, log}) {
  const healthUrl = `${apiUrl.replace(/\/+$/, '')}/api/health`
  log.info(`Scheduler started: probing ${healthUrl} every ${intervalSeconds}s`)
  if (!schedulerToken) log.warn('SCHEDULER_API_TOKEN is unset or shorter than 32 characters: calls go out without Authorization and get 401')
  const headers = schedulerToken ? {authorization: `Bearer ${schedulerToken}`} : {}

  const tick = async () => {
    try {
      const {status, body} = await getJson(healthUrl, headers)
      log.info(`Scheduler tick: app answered HTTP ${status}, status ${body.status ?? 'unknown'}`)
    } catch (error) {
      log.warn(`Scheduler tick: app unreachable (${error.code ?? error.message})`)
    }
  }

  const timer = setInterval(tick, intervalSeconds * 1000)
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      clearInterval(timer)
      log.info(`Scheduler received ${signal}: stopped`)
      process.exit(0)
    })
  }
  await tick()
}
