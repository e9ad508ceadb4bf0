// Health probing: one-shot checks and a 50 ms prober that records every answer, on fresh connections.
import http from 'node:http'

import {now, sleep} from './proc.mjs'

/**
 * One GET /api/health on a fresh connection. Healthy means the app's own word: HTTP 200 with
 * status == "ok" and db_schema == "ok". The version comes from the X-Agnes-Latest-Version header.
 */
export function probeHealth(baseUrl, timeoutMs = 1000) {
  const sentAt = now()
  return new Promise((resolvePromise) => {
    let settled = false
    const done = (fields) => {
      if (settled) return
      settled = true
      resolvePromise({sentAt, at: now(), healthy: false, ...fields})
    }

    const request = http.get(`${baseUrl}/api/health`, {agent: false, timeout: timeoutMs}, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => (body += chunk))
      response.on('end', () => {
        let parsed
        try {
          parsed = JSON.parse(body)
        } catch {
          parsed = undefined
        }

        const healthy = response.statusCode === 200 && parsed?.status === 'ok' && parsed?.db_schema === 'ok'
        done({healthy, status: response.statusCode, version: response.headers['x-agnes-latest-version'], error: healthy ? undefined : `HTTP ${response.statusCode} ${parsed ? `status=${parsed.status} db_schema=${parsed.db_schema}` : 'no JSON'}`})
      })
      response.on('error', (error) => done({error: error.code ?? error.message}))
    })
    request.on('timeout', () => {
      request.destroy(new Error('timeout'))
    })
    request.on('error', (error) => done({error: error.code ?? error.message}))
  })
}

/** Polls until healthy (every intervalMs) or the timeout; returns the healthy answer or undefined. */
export async function waitHealthy(baseUrl, {timeoutMs = 60_000, intervalMs = 20} = {}) {
  const deadline = now() + timeoutMs
  while (now() < deadline) {
    const answer = await probeHealth(baseUrl, 1000)
    if (answer.healthy) return answer
    await sleep(intervalMs)
  }

  return undefined
}

/** Fires a probe every intervalMs (independently of earlier ones still in flight) and keeps every answer. */
export function startProber(baseUrl, {intervalMs = 50, timeoutMs = 1000} = {}) {
  const answers = []
  const pending = new Set()
  const startedAt = now()
  const timer = setInterval(() => {
    const probe = probeHealth(baseUrl, timeoutMs).then((answer) => {
      answers.push(answer)
      pending.delete(probe)
    })
    pending.add(probe)
  }, intervalMs)
  return {
    startedAt,
    answers,
    async stop() {
      clearInterval(timer)
      await Promise.all([...pending])
      answers.sort((a, b) => a.at - b.at)
      return {startedAt, stoppedAt: now(), answers}
    },
  }
}

/**
 * The longest stretch without a healthy answer between `from` and `to` (epoch ms): measured from the last
 * healthy answer before it to the first healthy answer after it (answer receive times). The probe
 * interval bounds its resolution.
 */
export function longestOutage(answers, from, to) {
  const window = answers.filter((answer) => answer.at >= from && answer.at <= to)
  const healthy = window.filter((answer) => answer.healthy)
  const errors = {}
  for (const answer of window) if (!answer.healthy) errors[answer.error ?? 'unhealthy'] = (errors[answer.error ?? 'unhealthy'] ?? 0) + 1
  const summary = {probes: window.length, healthy: healthy.length, unhealthy: window.length - healthy.length, errors}
  if (healthy.length === 0) return {...summary, ms: to - from, start: from, end: undefined, recovered: false}
  let best = {ms: healthy[0].at - from, start: from, end: healthy[0].at, before: undefined, after: healthy[0].version, leading: true}
  for (let index = 1; index < healthy.length; index++) {
    const gap = healthy[index].at - healthy[index - 1].at
    if (gap > best.ms) best = {ms: gap, start: healthy[index - 1].at, end: healthy[index].at, before: healthy[index - 1].version, after: healthy[index].version}
  }

  const last = healthy.at(-1)
  // Still unhealthy at the end of the window: the outage never ended.
  const trailing = window.filter((answer) => answer.at > last.at)
  if (trailing.length > 0 && to - last.at > best.ms) best = {ms: to - last.at, start: last.at, end: undefined, before: last.version, after: undefined, recovered: false}
  return {...summary, recovered: best.recovered ?? true, ...best}
}

/** The first healthy answer received at or after `from` (optionally of a given version). */
export function firstHealthyAfter(answers, from, version) {
  return answers.find((answer) => answer.at >= from && answer.healthy && (version === undefined || answer.version === version))
}

/** The distinct versions that answered healthy, in order of appearance. */
export function versionsSeen(answers) {
  const seen = []
  for (const answer of answers) if (answer.healthy && answer.version && seen.at(-1) !== answer.version) seen.push(answer.version)
  return seen
}
