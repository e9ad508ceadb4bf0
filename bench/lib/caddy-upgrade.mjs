// Part 5 of the bench: what a client sees through Caddy (HTTPS, `--tls internal`) during a good upgrade.
// A TLS instance of its own (the Caddy image of test/infra/caddy-image.mjs), a release published on stable,
// `agnes upgrade --no-smoke` while a prober sends GET /api/health over HTTPS every 50 ms on fresh connections.
// Every answer must be a healthy 200 or Caddy's maintenance page (503, Retry-After); never a connection error.
import {appendFileSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import {join} from 'node:path'

import {removeByLabel, removeImages} from './docker.mjs'
import {describeFailure, engineOpenFileLimit, freePort, now, round, runAgnes, say, sleep, stats} from './proc.mjs'

const DOMAIN = 'agnes.local'
const PROBE_INTERVAL_MS = 50
// Caddy holds a request for up to lb_try_duration (5 s, templates/Caddyfile) before it gives up with the page.
const PROBE_TIMEOUT_MS = 15_000
const RELEASES = [
  {tag: 'stable-2026.04.5', version: '0.84.5', bootSeconds: 2},
  {tag: 'stable-2026.04.6', version: '0.84.6', bootSeconds: 8},
]

/** One GET /api/health through Caddy on a fresh TLS connection, classified. */
function probe(port, maintenancePage) {
  const sentAt = now()
  return new Promise((resolvePromise) => {
    let settled = false
    const done = (fields) => {
      if (settled) return
      settled = true
      const at = now()
      resolvePromise({sentAt, at, latencyMs: at - sentAt, ...fields})
    }

    const request = https.get({agent: false, headers: {host: DOMAIN}, host: '127.0.0.1', path: '/api/health', port, rejectUnauthorized: false, servername: DOMAIN, timeout: PROBE_TIMEOUT_MS}, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => (body += chunk))
      response.on('end', () => {
        if (response.statusCode === 503 && response.headers['retry-after'] && body === maintenancePage) return done({kind: 'maintenance'})
        let parsed
        try {
          parsed = JSON.parse(body)
        } catch {
          parsed = undefined
        }

        if (response.statusCode === 200 && parsed?.status === 'ok' && parsed?.db_schema === 'ok') return done({kind: 'healthy', version: response.headers['x-agnes-latest-version']})
        done({kind: `HTTP ${response.statusCode}`})
      })
      response.on('error', (error) => done({kind: `error ${error.code ?? error.message}`}))
    })
    request.on('timeout', () => request.destroy(Object.assign(new Error('timeout'), {code: 'timeout'})))
    request.on('error', (error) => done({kind: `error ${error.code ?? error.message}`}))
  })
}

function startProber(port, maintenancePage) {
  const answers = []
  const pending = new Set()
  const timer = setInterval(() => {
    const sent = probe(port, maintenancePage).then((answer) => {
      answers.push(answer)
      pending.delete(sent)
    })
    pending.add(sent)
  }, PROBE_INTERVAL_MS)
  return {
    async stop() {
      clearInterval(timer)
      await Promise.all([...pending])
      return answers.sort((a, b) => a.sentAt - b.sentAt)
    },
  }
}

function summarise(answers, cliStartedAt) {
  const kinds = {}
  for (const answer of answers) kinds[answer.kind] = (kinds[answer.kind] ?? 0) + 1
  const maintenance = answers.filter((answer) => answer.kind === 'maintenance')
  const versions = []
  for (const answer of answers) if (answer.kind === 'healthy' && answer.version && versions.at(-1) !== answer.version) versions.push(answer.version)
  const unexpected = answers.filter((answer) => answer.kind !== 'healthy' && answer.kind !== 'maintenance')
  return {
    probes: answers.length,
    kinds,
    versionsServed: versions,
    maintenanceWindow: maintenance.length === 0 ? undefined : {fromCliStartMs: round(maintenance[0].sentAt - cliStartedAt), toCliStartMs: round(maintenance.at(-1).at - cliStartedAt)},
    latency: stats(answers.map((answer) => answer.latencyMs)),
    firstUnexpected: unexpected[0] ? {kind: unexpected[0].kind, atCliStartMs: round(unexpected[0].sentAt - cliStartedAt)} : undefined,
  }
}

/**
 * Runs the part; `ctx` carries the run id and label (for cleanup) and `fail` the bench's failure. Leaves what
 * it created in ctx.caddy for cleanUpCaddyUpgrade.
 */
export async function caddyUpgrade(out, ctx, fail) {
  const images = await import('../../test/standin/images.mjs')
  const {ensureCaddyImage} = await import('../../test/infra/caddy-image.mjs')
  const state = {repo: `127.0.0.1:5000/bench-${ctx.runId}-tls/agnes`}
  ctx.caddy = state
  say('building/pushing the Caddy image…')
  out.caddyImage = (await ensureCaddyImage()).reference
  say(`publishing the standard stand-in set to ${state.repo}…`)
  await images.standardSet(state.repo)

  state.tmp = mkdtempSync(join(os.tmpdir(), 'agnes-bench-tls-'))
  state.dir = join(state.tmp, `agnes-bench-tls-${ctx.runId}`)
  const appPort = await freePort()
  const httpPort = await freePort()
  const httpsPort = await freePort()
  const init = await runAgnes(['init', '--non-interactive', '--json', '--dir', state.dir, '--image', state.repo, '--admin-email', 'admin@example.com', '--channel', 'stable', '--http-port', String(appPort), '--memory', '512m', '--cpus', '1', '--tls', 'internal', '--domain', DOMAIN])
  if (init.code !== 0) fail(`agnes init --tls internal failed: ${describeFailure(init)}`)
  appendFileSync(join(state.dir, '.env'), ['', '# bench host', 'AGNES_HEALTHCHECK_INTERVAL=2s', `AGNES_NOFILE=${engineOpenFileLimit()}`, `AGNES_CADDY_IMAGE=${out.caddyImage}`, `AGNES_PUBLIC_HTTP_PORT=${httpPort}`, `AGNES_PUBLIC_HTTPS_PORT=${httpsPort}`, ''].join('\n'))
  state.project = JSON.parse(readFileSync(join(state.dir, '.agnes', 'state.json'), 'utf8')).project
  if (!state.project.includes(ctx.runId)) fail(`the TLS instance's compose project "${state.project}" does not carry the run id; refusing to go on`)
  out.instance = {project: state.project, httpsPort}

  say(`agnes up --tls internal (project ${state.project}, HTTPS on ${httpsPort})…`)
  const up = await runAgnes(['up', '--json', '--dir', state.dir, '--health-timeout', '120'], {timeoutMs: 900_000})
  if (up.code !== 0) fail(`agnes up failed: ${describeFailure(up)}`)
  const maintenancePage = readFileSync(join(state.dir, 'static', 'maintenance.html'), 'utf8')
  const ready = await probe(httpsPort, maintenancePage)
  if (ready.kind !== 'healthy') fail(`the instance does not answer through Caddy after up: ${ready.kind}`)

  // A boot shorter than Caddy's 5 s retry window (requests wait, then succeed) and one longer (the page shows).
  out.upgrades = []
  for (const release of RELEASES) {
    say(`publishing ${release.tag} (boot ${release.bootSeconds} s) on stable; agnes upgrade --no-smoke with the HTTPS prober running…`)
    await images.publish({repository: state.repo, channel: 'stable', ...release})
    await images.moveTag({repository: state.repo, fromTag: release.tag, toTag: 'stable'})
    const prober = startProber(httpsPort, maintenancePage)
    await sleep(1000)
    const cliStartedAt = now()
    const upgrade = await runAgnes(['upgrade', '--json', '--no-smoke', '--dir', state.dir, '--health-timeout', '120'], {timeoutMs: 900_000})
    await sleep(1500)
    const answers = await prober.stop()
    const measured = {release, cli: {exitCode: upgrade.code, outcome: upgrade.json?.result?.outcome ?? upgrade.json?.error?.code, wallMs: round(upgrade.ms)}, ...summarise(answers, cliStartedAt)}
    measured.pass = upgrade.code === 0 && measured.firstUnexpected === undefined && measured.versionsServed.at(-1) === release.version
    out.upgrades.push(measured)
    if (upgrade.code !== 0) fail(`the upgrade to ${release.tag} did not succeed: ${describeFailure(upgrade)}`)
    if (measured.firstUnexpected) fail(`a client saw ${measured.firstUnexpected.kind} ${measured.firstUnexpected.atCliStartMs} ms after the upgrade to ${release.tag} started`)
  }
  out.pass = out.upgrades.every((measured) => measured.pass)
}

/** Removes the TLS instance's containers, volumes, directory and local image tags. */
export function cleanUpCaddyUpgrade(ctx) {
  const state = ctx.caddy
  if (!state) return undefined
  const removed = state.project ? removeByLabel({project: state.project}) : {containers: 0, volumes: 0}
  if (state.tmp) rmSync(state.tmp, {force: true, recursive: true})
  removeImages([state.repo])
  return removed
}

const ms = (value) => (value === null || value === undefined ? 'n/a' : value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`)

/** The report lines of part 5. */
export function renderCaddyUpgrade(section, cleanup) {
  const lines = ['5. What a client sees through Caddy (HTTPS, tls internal) during a good upgrade (--no-smoke)']
  for (const measured of section?.upgrades ?? []) {
    lines.push(`   to ${measured.release.tag} (boot ${measured.release.bootSeconds} s): exit ${measured.cli.exitCode}, outcome ${measured.cli.outcome}, wall ${ms(measured.cli.wallMs)}; versions served ${measured.versionsServed.join(' → ')}`)
    lines.push(`      ${measured.probes} probes (GET /api/health every ${PROBE_INTERVAL_MS} ms, fresh TLS connections): ${Object.entries(measured.kinds).map(([kind, count]) => `${count} ${kind}`).join(', ')}`)
    if (measured.maintenanceWindow) lines.push(`      maintenance page (503 + Retry-After) from ${ms(measured.maintenanceWindow.fromCliStartMs)} to ${ms(measured.maintenanceWindow.toCliStartMs)} after the CLI started`)
    lines.push(`      answer time median ${ms(measured.latency.median)}, max ${ms(measured.latency.max)} (Caddy holds a request up to 5 s while the app restarts)`)
  }
  if (section?.upgrades) lines.push(`   every answer a healthy 200 or the maintenance page, never a connection error: ${section.pass ? 'PASS' : 'MISS'}`)
  if (cleanup?.tlsInstanceRemoved) lines.push(`   TLS instance removed: ${cleanup.tlsInstanceRemoved.containers} containers, ${cleanup.tlsInstanceRemoved.volumes} volumes`)
  if (section && !section.ok) lines.push(section.skipped ? `   skipped: ${section.error}` : `   FAILED: ${section.error ?? 'not run'}`)
  return lines
}
