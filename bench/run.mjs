#!/usr/bin/env node
// `npm run bench`: the agnes benchmarks (issues #2 and #4).
//
//   1. cold start of `agnes --version` / `agnes --help` next to `node -e 0`  target ≤ 1.5× / ≤ 2× node
//   2. the no-op cron tick (`agnes upgrade` when up to date) next to the current
//      approach (`docker-compose pull` + image-ID compare), in the same run   target ≤ 0.3× compose pull, 1 request, no pull
//   3. downtime of a good upgrade (prober every 50 ms) next to the stand-in's boot     target boot + ≤ 1 s
//   4. crash-on-start release → old version serving again                              target ≤ 5 s + old boot
//   5. a good upgrade seen through Caddy (HTTPS): only healthy 200s or the maintenance page, no connection error
//   6. `agnes fleet status` over 10 instances through sshd next to 10 sequential `ssh … agnes status --json`  target ≤ 0.3×
//
// Needs a Docker engine and the local registry on 127.0.0.1:5000 (started here with
// test/infra/start-docker.sh) and a built CLI (`npm run bench` builds first). The readable report goes to
// stdout, progress to stderr, and the same figures as JSON to bench/results/latest.json. Everything it
// creates (compose project, containers, volumes, the instance directory, local image tags) is removed at the
// end, also on failure or Ctrl-C. Env: BENCH_RUNS (default 11), BENCH_KEEP=1 keeps the instance,
// BENCH_NO_PROXY=1 skips the counting registry proxy, BENCH_PARTS=1,2,3,4,5,6 selects parts.
import {randomBytes} from 'node:crypto'
import {appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import {join} from 'node:path'

import {caddyUpgrade, cleanUpCaddyUpgrade, renderCaddyUpgrade} from './lib/caddy-upgrade.mjs'
import {cleanUpFleetStatus, fleetStatusBench, renderFleetStatus} from './lib/fleet-status.mjs'
import {composeCommand, containerTimeline, localImages, measureBoot, removeByLabel, removeImages, watchEvents} from './lib/docker.mjs'
import {firstHealthyAfter, longestOutage, probeHealth, startProber, versionsSeen, waitHealthy} from './lib/probe.mjs'
import {activeChildren, binPath, describeFailure, engineOpenFileLimit, freePort, killGroup, now, repoRoot, round, run, runAgnes, runAsync, say, sleep, stats} from './lib/proc.mjs'
import {startCountingProxy} from './lib/registry-proxy.mjs'

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 11))
const PARTS = new Set((process.env.BENCH_PARTS ?? '1,2,3,4,5,6').split(',').map((part) => part.trim()))
const REGISTRY = '127.0.0.1:5000'
const HEALTH_TIMEOUT_S = 120
const BOOT_RUNS = 3
const PROBE_INTERVAL_MS = 50
const TARGETS = {coldStartRatio: {version: 1.5, help: 2}, noopTickOverComposePull: 0.3, noopRegistryRequests: 1, downtimeOverBootMs: 1000, rollbackOverBootMs: 5000}
const resultsDir = join(repoRoot, 'bench', 'results')

const report = {meta: {}, coldStart: undefined, noopTick: undefined, goodUpgrade: undefined, smokeUpgrade: undefined, rollback: undefined, caddyUpgrade: undefined, fleetStatus: undefined, cleanup: undefined}
const ctx = {runId: randomBytes(3).toString('hex'), bootCache: new Map()}
ctx.label = `org.agnes.bench=${ctx.runId}`
let cleanedUp = false

class PartFailure extends Error {}

/** Runs one part; a failure is recorded (with whatever was measured so far) and the run goes on. */
async function part(key, title, enabled, body) {
  if (!enabled) {
    report[key] = {ok: false, skipped: true, error: 'not selected (BENCH_PARTS)'}
    return
  }

  const out = {ok: false}
  report[key] = out
  const started = now()
  say(`${title}…`)
  try {
    await body(out)
    out.ok = true
  } catch (error) {
    out.error = error instanceof PartFailure ? error.message : `${error.message} (${error.stack?.split('\n')[1]?.trim() ?? 'no stack'})`
    say(`${title}: FAILED: ${out.error}`)
  }

  out.seconds = round((now() - started) / 1000)
}

function fail(message) {
  throw new PartFailure(message)
}

// ---------------------------------------------------------------------------------------------- part 1

async function coldStart(out) {
  const commands = [
    {key: 'node', label: 'node -e 0', args: ['-e', '0'], check: () => true},
    {key: 'version', label: 'agnes --version', args: [binPath, '--version'], check: (stdout) => /agnes\//.test(stdout)},
    {key: 'help', label: 'agnes --help', args: [binPath, '--help'], check: (stdout) => /USAGE|COMMANDS/i.test(stdout)},
  ]
  // One warm-up of each (page cache), not counted; then interleaved runs so drift hits all three alike.
  for (const command of commands) {
    const result = run(process.execPath, command.args, {env: {NO_COLOR: '1'}})
    if (result.code !== 0 || !command.check(result.stdout)) fail(`${command.label} failed: exit ${result.code}: ${(result.stderr || result.stdout).trim().slice(0, 300)}`)
  }

  const samples = Object.fromEntries(commands.map((command) => [command.key, []]))
  for (let index = 0; index < RUNS; index++) {
    for (const command of commands) {
      const result = run(process.execPath, command.args, {env: {NO_COLOR: '1'}})
      if (result.code !== 0) fail(`${command.label} failed on run ${index + 1}: exit ${result.code}`)
      samples[command.key].push(result.ms)
    }
  }

  out.runs = RUNS
  out.unit = 'ms'
  for (const command of commands) out[command.key] = {command: command.label, ...stats(samples[command.key]), samples: samples[command.key].map((ms) => round(ms))}
  for (const key of ['version', 'help']) {
    out[key].ratioToNode = round(out[key].median / out.node.median, 2)
    out[key].pass = out[key].ratioToNode <= TARGETS.coldStartRatio[key]
  }
}

// ---------------------------------------------------------------------------------------------- part 2

function readState() {
  return JSON.parse(readFileSync(join(ctx.dir, '.agnes', 'state.json'), 'utf8'))
}

function appContainer() {
  const id = run('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${ctx.project}`, '--filter', 'label=com.docker.compose.service=app']).stdout.trim().split('\n')[0]
  if (!id) return undefined
  const [startedAt, image, status] = run('docker', ['inspect', '--format', '{{.State.StartedAt}} {{.Image}} {{.State.Status}}', id]).stdout.trim().split(' ')
  return {id, startedAt, image, status}
}

/** Publishes the standard set, puts the counting proxy in front of the registry, `init` + `up`. */
async function setUpInstance(out) {
  const images = await import('../test/standin/images.mjs')
  ctx.images = images
  ctx.repo = `${REGISTRY}/bench-${ctx.runId}/agnes`
  say(`publishing the standard stand-in set to ${ctx.repo}…`)
  const publishStarted = now()
  ctx.published = await images.standardSet(ctx.repo)
  out.publishSeconds = round((now() - publishStarted) / 1000)

  if (process.env.BENCH_NO_PROXY !== '1') {
    try {
      ctx.proxy = await startCountingProxy({upstreamPort: 5000})
    } catch (error) {
      say(`the counting registry proxy did not start (${error.message}); using the registry directly`)
    }
  }

  // The instance pulls through the proxy (same registry, same repository, another port) so that the
  // registry requests of both the CLI and the Compose baseline can be counted independently.
  ctx.instanceRepo = ctx.proxy ? `${ctx.proxy.host}/bench-${ctx.runId}/agnes` : ctx.repo
  ctx.tmp = mkdtempSync(join(os.tmpdir(), 'agnes-bench-'))
  // The directory name becomes the compose project name: make it unique to this run, so that cleanup by
  // the project label can never touch anyone else's containers.
  ctx.dir = join(ctx.tmp, `agnes-bench-${ctx.runId}`)
  ctx.port = await freePort()
  ctx.url = `http://127.0.0.1:${ctx.port}`
  out.instance = {repository: ctx.instanceRepo, registry: ctx.repo, proxy: Boolean(ctx.proxy), dir: ctx.dir, port: ctx.port}

  const init = await runAgnes(['init', '--non-interactive', '--json', '--dir', ctx.dir, '--image', ctx.instanceRepo, '--admin-email', 'admin@example.com', '--channel', 'stable', '--http-port', String(ctx.port), '--memory', '512m', '--cpus', '1'])
  if (init.code !== 0) fail(`agnes init failed: ${describeFailure(init)}`)
  appendFileSync(join(ctx.dir, '.env'), `\n# bench host\nAGNES_HEALTHCHECK_INTERVAL=2s\nAGNES_NOFILE=${engineOpenFileLimit()}\n`)
  const project = readState().project
  if (!project.includes(ctx.runId)) fail(`the instance's compose project "${project}" does not carry the run id ${ctx.runId}; refusing to go on (cleanup by project label would not be safe)`)
  ctx.project = project
  out.instance.project = ctx.project

  say(`agnes up (project ${ctx.project}, port ${ctx.port})…`)
  const up = await runAgnes(['up', '--json', '--dir', ctx.dir, '--health-timeout', String(HEALTH_TIMEOUT_S)], {timeoutMs: 900_000})
  if (up.code !== 0) fail(`agnes up failed: ${describeFailure(up)}`)
  out.upSeconds = round(up.ms / 1000, 2)
  if (!(await waitHealthy(ctx.url, {timeoutMs: 30_000}))) fail('the instance is not healthy after `agnes up`')
  ctx.ready = true
}

async function noopTick(out) {
  await setUpInstance(out)
  if (!PARTS.has('2')) {
    out.skippedMeasurement = 'only the instance was set up (BENCH_PARTS)'
    return
  }

  const pulls = watchEvents(['type=image', 'event=pull'])
  const ours = (event) => String(event.Actor?.ID ?? event.id ?? '').includes(`bench-${ctx.runId}/agnes`)
  try {
    // --- the CLI
    const before = {images: localImages([ctx.instanceRepo]), app: appContainer()}
    const cliStarted = now()
    const ticks = []
    for (let index = 0; index < RUNS; index++) {
      const mark = ctx.proxy?.mark()
      const result = await runAgnes(['upgrade', '--json', '--dir', ctx.dir])
      const tick = {ms: round(result.ms), exitCode: result.code, outcome: result.json?.result?.outcome ?? result.json?.error?.code, registryRequests: result.json?.result?.registryRequests, cliDurationMs: result.json?.result?.durationMs}
      if (ctx.proxy) tick.proxied = ctx.proxy.since(mark)
      if (result.code !== 0 || tick.outcome !== 'up-to-date') tick.failure = describeFailure(result)
      ticks.push(tick)
    }

    const cliEnded = now()
    await sleep(500)
    const after = {images: localImages([ctx.instanceRepo]), app: appContainer()}
    const cli = {
      command: 'agnes upgrade --json (up to date)',
      wall: stats(ticks.map((tick) => tick.ms)),
      cliReportedDuration: stats(ticks.map((tick) => tick.cliDurationMs)),
      outcomes: [...new Set(ticks.map((tick) => `${tick.outcome} (exit ${tick.exitCode})`))],
      registryRequests: [...new Set(ticks.map((tick) => tick.registryRequests))],
      proxiedRequestsPerTick: ctx.proxy ? [...new Set(ticks.map((tick) => tick.proxied.total))] : undefined,
      proxiedByKind: ctx.proxy ? ticks[0].proxied.byKind : undefined,
      blobGets: ctx.proxy ? ticks.reduce((sum, tick) => sum + tick.proxied.blobGets, 0) : undefined,
      pullEvents: pulls.events.filter((event) => ours(event) && event.at >= cliStarted && event.at <= cliEnded).length,
      imageListUnchanged: JSON.stringify(before.images) === JSON.stringify(after.images),
      appContainerUnchanged: Boolean(before.app) && before.app?.id === after.app?.id && before.app?.startedAt === after.app?.startedAt,
      ticks,
    }
    cli.noPull = cli.pullEvents === 0 && cli.imageListUnchanged && (cli.blobGets ?? 0) === 0
    out.cli = cli
    const failures = ticks.filter((tick) => tick.failure)
    if (failures.length > 0) out.cliFailure = `${failures.length}/${ticks.length} ticks did not report up-to-date; first: ${failures[0].failure}`

    // --- the current approach, measured on the same instance in the same run
    out.baseline = await baselineTicks(pulls, ours)
    // The target is relative: the tick against `docker compose pull` of the same unchanged image, same run.
    const composePull = out.baseline.compose?.wall?.median
    cli.ratioToComposePull = composePull && cli.wall.median !== null ? round(cli.wall.median / composePull, 2) : null
    cli.pass = cli.ratioToComposePull !== null && cli.ratioToComposePull <= TARGETS.noopTickOverComposePull && cli.noPull && cli.appContainerUnchanged
      && cli.registryRequests.length === 1 && cli.registryRequests[0] === TARGETS.noopRegistryRequests
  } finally {
    await pulls.stop()
  }

  if (out.cliFailure) fail(out.cliFailure)
}

/**
 * The real scripts' tick (`agnes-auto-upgrade.sh`): `docker compose pull`, then compare the running app
 * container's image ID with the local tag's image ID. Our compose file runs by digest, so the pull uses a
 * throwaway compose file whose app service references `<repo>:stable` (same project name). A second
 * variant times plain `docker pull <repo>:stable` + the same compare (closer to Compose v2's cost, which
 * is a Go binary rather than v1's Python start-up).
 */
async function baselineTicks(pulls, ours) {
  const out = {}
  const compose = composeCommand()
  const reference = `${ctx.instanceRepo}:stable`
  const compare = async (findContainer) => {
    const started = now()
    const id = await findContainer()
    const running = (await runAsync('docker', ['inspect', '--format', '{{.Image}}', id])).stdout.trim()
    const tagged = (await runAsync('docker', ['image', 'inspect', '--format', '{{.Id}}', reference])).stdout.trim()
    return {ms: now() - started, same: Boolean(running) && running === tagged}
  }

  const dockerPsApp = async () => (await runAsync('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${ctx.project}`, '--filter', 'label=com.docker.compose.service=app'])).stdout.trim().split('\n')[0]
  const measure = async (label, pull, findContainer) => {
    const ticks = []
    const started = now()
    for (let index = 0; index < RUNS; index++) {
      const mark = ctx.proxy?.mark()
      const tickStarted = now()
      const pulled = await pull()
      const compared = await compare(findContainer)
      const tick = {ms: round(now() - tickStarted), pullMs: round(pulled.ms), compareMs: round(compared.ms), pullExit: pulled.code, upToDate: compared.same}
      if (ctx.proxy) tick.proxied = ctx.proxy.since(mark)
      if (pulled.code !== 0) tick.failure = `${pulled.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`
      ticks.push(tick)
    }

    const ended = now()
    return {
      command: label,
      wall: stats(ticks.map((tick) => tick.ms)),
      pullPhase: stats(ticks.map((tick) => tick.pullMs)),
      comparePhase: stats(ticks.map((tick) => tick.compareMs)),
      verdicts: [...new Set(ticks.map((tick) => (tick.upToDate ? 'same image (no change)' : 'different/unknown image')))],
      registryRequestsPerTick: ctx.proxy ? [...new Set(ticks.map((tick) => tick.proxied.total))] : undefined,
      proxiedByKind: ctx.proxy ? ticks[0].proxied.byKind : undefined,
      blobGets: ctx.proxy ? ticks.reduce((sum, tick) => sum + tick.proxied.blobGets, 0) : undefined,
      pullEvents: pulls.events.filter((event) => ours(event) && event.at >= started && event.at <= ended + 500).length,
      failures: ticks.filter((tick) => tick.failure).map((tick) => tick.failure).slice(0, 2),
      ticks,
    }
  }

  if (compose) {
    const file = join(ctx.tmp, 'baseline', 'docker-compose.yml')
    mkdirSync(join(ctx.tmp, 'baseline'), {recursive: true})
    writeFileSync(file, `# bench baseline: the current approach pulls the floating tag\nservices:\n  app:\n    image: ${reference}\n`)
    const composeArgs = (...args) => [...compose.prefix, '-p', ctx.project, '-f', file, ...args]
    const composePsApp = async () => {
      const id = (await runAsync(compose.command, composeArgs('ps', '-q', 'app'))).stdout.trim().split('\n')[0]
      return id || dockerPsApp()
    }

    say(`baseline: ${compose.label} pull app + compare, ${RUNS} runs…`)
    out.compose = await measure(`${compose.command} ${compose.prefix.join(' ')} -p <project> -f <throwaway: app image ${'<repo>'}:stable> pull app; ${compose.command} ${compose.prefix.join(' ')} ps -q app; docker inspect (container .Image vs tag .Id)`.replace(/ {2,}/g, ' '), () => runAsync(compose.command, composeArgs('pull', 'app')), composePsApp)
    out.compose.composeVersion = compose.label
  } else {
    out.compose = {error: 'neither `docker compose` nor `docker-compose` is installed'}
  }

  say(`baseline: docker pull + compare, ${RUNS} runs…`)
  out.dockerPull = await measure('docker pull <repo>:stable; docker ps (labels); docker inspect (container .Image vs tag .Id)', () => runAsync('docker', ['pull', '-q', reference]), dockerPsApp)
  return out
}

// ---------------------------------------------------------------------------------------------- parts 3, 4

async function bootTime(image) {
  if (!ctx.bootCache.has(image)) {
    say(`measuring the stand-in's own boot time for ${image.replace(/^.*\//, '')} (${BOOT_RUNS} runs)…`)
    const samples = await measureBoot(image, {runs: BOOT_RUNS, label: ctx.label})
    ctx.bootCache.set(image, {
      image,
      method: `docker create (JWT_SECRET_KEY, -p, 512m, 1 CPU) → time from \`docker start\` to the first healthy /api/health (polled every 20 ms); ${BOOT_RUNS} runs`,
      startToHealthy: stats(samples.map((sample) => sample.startToHealthyMs)),
      engineStartedAtToHealthy: stats(samples.map((sample) => sample.startedAtToHealthyMs)),
      dockerStartCommand: stats(samples.map((sample) => sample.dockerStartMs)),
    })
  }

  return ctx.bootCache.get(image)
}

/** Publishes a release and points `stable` at it, as the publisher does. */
async function publishOnStable(release) {
  const published = await ctx.images.publish({repository: ctx.repo, channel: 'stable', ...release})
  await ctx.images.moveTag({repository: ctx.repo, fromTag: release.tag, toTag: 'stable'})
  return published
}

/** Runs a switching command while a prober hits /api/health every 50 ms and docker events are recorded. */
async function measuredSwitch(args) {
  const events = watchEvents(['type=container', `label=com.docker.compose.project=${ctx.project}`])
  const prober = startProber(ctx.url, {intervalMs: PROBE_INTERVAL_MS, timeoutMs: 1000})
  let result
  let stopped
  try {
    await sleep(1000)
    result = await runAgnes([...args, '--dir', ctx.dir], {timeoutMs: 900_000})
    // Keep probing a little after the command returned: the version it left must keep serving.
    await sleep(1500)
  } finally {
    stopped = await prober.stop()
    await events.stop()
  }

  const timeline = containerTimeline(events.events).filter((event) => event.service === 'app')
  const outage = longestOutage(stopped.answers, stopped.startedAt, stopped.stoppedAt)
  const relative = (at) => (at === undefined ? undefined : round(at - result.startedAt))
  return {
    result,
    answers: stopped.answers,
    timeline,
    cli: {
      command: `agnes ${args.join(' ')}`,
      exitCode: result.code,
      outcome: result.json?.result?.outcome ?? result.json?.error?.result?.outcome ?? result.json?.error?.code,
      wallMs: round(result.ms),
      cliReportedDurationMs: result.json?.result?.durationMs ?? result.json?.error?.result?.durationMs,
      from: result.json?.result?.from ?? result.json?.error?.result?.from,
      to: result.json?.result?.to ?? result.json?.error?.result?.to,
      reason: result.json?.result?.reason ?? result.json?.error?.message,
    },
    outage: {
      ms: round(outage.ms),
      fromCliStartMs: relative(outage.start),
      toCliStartMs: relative(outage.end),
      recovered: outage.recovered,
      versionBefore: outage.before,
      versionAfter: outage.after,
      probes: outage.probes,
      unhealthyProbes: outage.unhealthy,
      unhealthyKinds: outage.errors,
    },
    versionsServed: versionsSeen(stopped.answers),
    events: timeline.map((event) => ({t: relative(event.at), action: event.action, container: event.id, image: event.image?.replace(/^.*@sha256:/, 'sha256:').slice(0, 19), exitCode: event.exitCode})),
    relative,
  }
}

function firstEvent(timeline, action, predicate = () => true, after = -Infinity) {
  return timeline.find((event) => event.action === action && event.at >= after && predicate(event))
}

async function goodUpgrade(out) {
  if (!ctx.ready) fail('skipped: the instance from part 2 is not running')
  const release = {tag: 'stable-2026.04.5', version: '0.84.5', bootSeconds: 2}
  say(`publishing ${release.tag} (${release.version}, bootSeconds ${release.bootSeconds}) on stable…`)
  const published = await publishOnStable(release)
  out.release = {...release, digest: published.digest}
  out.boot = await bootTime(`${ctx.repo}:${release.tag}`)
  say('agnes upgrade --json --no-smoke with the prober running…')
  const measured = await measuredSwitch(['upgrade', '--json', '--no-smoke', '--health-timeout', String(HEALTH_TIMEOUT_S)])
  Object.assign(out, summariseGoodSwitch(measured, published.digest, release.version, out.boot))
  if (measured.cli.exitCode !== 0 || measured.cli.outcome !== 'upgraded') fail(`the upgrade did not succeed: ${describeFailure(measured.result)}`)
}

function summariseGoodSwitch(measured, digest, version, boot) {
  const newStart = firstEvent(measured.timeline, 'start', (event) => event.image?.includes(digest))
  const oldStop = firstEvent(measured.timeline, 'kill') ?? firstEvent(measured.timeline, 'die')
  const newHealthy = newStart ? firstHealthyAfter(measured.answers, newStart.at, version) : undefined
  const breakdown = {
    oldStopSignalAtMs: measured.relative(oldStop?.at),
    newContainerStartAtMs: measured.relative(newStart?.at),
    newHealthyAtMs: measured.relative(newHealthy?.at),
    lastHealthyOldToNewStartMs: newStart && measured.outage.fromCliStartMs !== undefined ? round(measured.relative(newStart.at) - measured.outage.fromCliStartMs) : undefined,
    newStartToHealthyMs: newStart && newHealthy ? round(newHealthy.at - newStart.at) : undefined,
  }
  const budget = boot.startToHealthy.median + TARGETS.downtimeOverBootMs
  return {
    cli: measured.cli,
    downtime: measured.outage,
    breakdown,
    versionsServed: measured.versionsServed,
    events: measured.events,
    overBootMs: round(measured.outage.ms - boot.startToHealthy.median),
    targetMs: round(budget),
    pass: measured.outage.recovered && measured.outage.ms <= budget && measured.versionsServed.at(-1) === version,
  }
}

async function smokeUpgrade(out) {
  if (!ctx.ready) fail('skipped: the instance from part 2 is not running')
  const release = {tag: 'stable-2026.04.6', version: '0.84.6', bootSeconds: 2}
  say(`publishing ${release.tag} (${release.version}, bootSeconds ${release.bootSeconds}) on stable…`)
  const published = await publishOnStable(release)
  out.release = {...release, digest: published.digest}
  out.boot = await bootTime(`${ctx.repo}:${release.tag}`)
  say('agnes upgrade --json --smoke-settle 0 (smoke gate on) with the prober running…')
  const measured = await measuredSwitch(['upgrade', '--json', '--smoke-settle', '0', '--health-timeout', String(HEALTH_TIMEOUT_S)])
  Object.assign(out, summariseGoodSwitch(measured, published.digest, release.version, out.boot))
  // Evidence that the smoke gate really ran: the new container's request log (the stand-in's test endpoint)
  // holds the smoke test's SELECT 1 and catalog calls, which the prober never makes.
  try {
    const log = await (await fetch(`${ctx.url}/__standin/requests`, {signal: AbortSignal.timeout(5000)})).json()
    const paths = log.requests.map((request) => `${request.method} ${request.path}`)
    out.smokeEvidence = {queryRequests: paths.filter((path) => path === 'POST /api/query').length, otherNonHealthRequests: paths.filter((path) => !/\/api\/health$/.test(path) && path !== 'POST /api/query').length}
  } catch (error) {
    out.smokeEvidence = {error: error.message}
  }

  if (measured.cli.exitCode !== 0 || measured.cli.outcome !== 'upgraded') fail(`the smoke-gated upgrade did not succeed: ${describeFailure(measured.result)}`)
}

async function rollback(out) {
  if (!ctx.ready) fail('skipped: the instance from part 2 is not running')
  const state = readState()
  const oldDigest = state.current?.digest
  const oldAnswer = await probeHealth(ctx.url)
  if (!oldDigest || !oldAnswer.healthy) fail(`the instance is not healthy before the crash release (${oldAnswer.error ?? 'no recorded digest'})`)
  out.old = {version: oldAnswer.version, digest: oldDigest}
  out.oldBoot = await bootTime(`${ctx.instanceRepo}@${oldDigest}`)
  const release = {tag: 'stable-2026.04.7', version: '0.84.7', variant: 'crash'}
  say(`publishing ${release.tag} (${release.version}, variant crash) on stable…`)
  const published = await publishOnStable(release)
  out.release = {...release, digest: published.digest}
  say('agnes upgrade --json (crash on start → rollback) with the prober running…')
  const measured = await measuredSwitch(['upgrade', '--json', '--health-timeout', String(HEALTH_TIMEOUT_S)])
  const {timeline} = measured
  const crashStart = firstEvent(timeline, 'start', (event) => event.image?.includes(published.digest)) ?? firstEvent(timeline, 'start')
  const crashDie = crashStart ? firstEvent(timeline, 'die', (event) => event.id === crashStart.id, crashStart.at) : undefined
  const crashStarts = timeline.filter((event) => event.action === 'start' && crashStart && event.id === crashStart.id).length
  const oldStart = crashStart ? firstEvent(timeline, 'start', (event) => event.image?.includes(oldDigest), crashStart.at) : undefined
  const oldHealthy = crashStart ? firstHealthyAfter(measured.answers, crashStart.at, out.old.version) : undefined
  out.cli = measured.cli
  out.exitCode = measured.cli.exitCode
  out.expectedExitCode = 10
  out.timeline = {
    crashContainerStartAtMs: measured.relative(crashStart?.at),
    crashContainerFirstDieAtMs: measured.relative(crashDie?.at),
    crashContainerStarts: crashStarts,
    oldContainerStartAtMs: measured.relative(oldStart?.at),
    oldHealthyAtMs: measured.relative(oldHealthy?.at),
  }
  out.rollbackMs = crashStart && oldHealthy ? round(oldHealthy.at - crashStart.at) : null
  out.breakdown = {
    crashStartToDieMs: crashStart && crashDie ? round(crashDie.at - crashStart.at) : undefined,
    crashDieToOldStartMs: crashDie && oldStart ? round(oldStart.at - crashDie.at) : undefined,
    oldStartToHealthyMs: oldStart && oldHealthy ? round(oldHealthy.at - oldStart.at) : undefined,
  }
  out.downtime = measured.outage
  out.versionsServed = measured.versionsServed
  out.events = measured.events
  out.targetMs = round(TARGETS.rollbackOverBootMs + out.oldBoot.startToHealthy.median)
  out.pass = out.rollbackMs !== null && out.rollbackMs <= out.targetMs && out.exitCode === 10 && measured.versionsServed.at(-1) === out.old.version

  // The next cron tick must not retry the rejected digest.
  const next = await runAgnes(['upgrade', '--json', '--dir', ctx.dir])
  out.nextTick = {exitCode: next.code, outcome: next.json?.result?.outcome ?? next.json?.error?.code, warnings: next.json?.warnings, ms: round(next.ms)}
  if (out.rollbackMs === null) fail(`could not measure: ${!crashStart ? 'no start event of the crashing container' : 'the old version never answered healthy again'} (agnes: ${describeFailure(measured.result)})`)
  if (out.exitCode !== 10) fail(`expected exit 10 (rolled back), got ${describeFailure(measured.result)}`)
}

// ---------------------------------------------------------------------------------------------- cleanup

function cleanUp() {
  if (cleanedUp) return report.cleanup
  cleanedUp = true
  const out = {}
  for (const child of activeChildren) killGroup(child)
  cleanUpFleetStatus(ctx)
  if (process.env.BENCH_KEEP === '1' && ctx.project) {
    out.kept = {dir: ctx.dir, project: ctx.project}
  } else {
    const removed = removeByLabel({project: ctx.project, label: ctx.label})
    out.containersRemoved = removed.containers
    out.volumesRemoved = removed.volumes
    if (ctx.tmp) rmSync(ctx.tmp, {force: true, recursive: true})
    out.instanceDirRemoved = ctx.tmp ? !existsSync(ctx.tmp) : undefined
    const repositories = [ctx.instanceRepo, ctx.repo].filter(Boolean)
    out.localImageTagsRemoved = repositories.length > 0 ? removeImages(repositories) + removeImages(repositories) : 0
    const left = ctx.project ? run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${ctx.project}`]).stdout.trim() : ''
    out.containersLeft = left ? left.split('\n').length : 0
    out.tlsInstanceRemoved = cleanUpCaddyUpgrade(ctx)
  }

  out.note = 'the pushed manifests stay in the local test registry (as with the e2e suite)'
  report.cleanup = out
  return out
}

// ---------------------------------------------------------------------------------------------- report

const ms = (value) => (value === null || value === undefined ? 'n/a' : value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`)
const range = (s) => (s && s.n ? `${ms(s.median)}  [${ms(s.min)} – ${ms(s.max)}]` : 'n/a')
const verdict = (pass) => (pass === true ? 'PASS' : pass === false ? 'MISS' : 'n/a')
const failed = (section) => (section?.ok ? '' : section?.skipped ? `   skipped: ${section.error}\n` : `   FAILED: ${section?.error ?? 'not run'}\n`)

function render() {
  const lines = []
  const add = (line = '') => lines.push(line)
  const {meta} = report
  add(`agnes benchmarks — ${meta.startedAt}`)
  add(`host: ${meta.cpus} × ${meta.cpuModel}, load ${meta.loadStart} → ${meta.loadEnd}; node ${meta.node}; docker ${meta.docker}; ${meta.compose}; git ${meta.git}`)
  add(`runs per figure: ${RUNS} (median  [min – max])`)
  add()

  const cold = report.coldStart
  add('1. Cold start')
  if (cold?.node) {
    add(`   node -e 0              ${range(cold.node)}`)
    for (const key of ['version', 'help']) if (cold[key]) add(`   ${cold[key].command.padEnd(22)} ${range(cold[key])}   ${cold[key].ratioToNode}× node   target ≤ ${TARGETS.coldStartRatio[key]}×: ${verdict(cold[key].pass)}`)
  }

  add(failed(cold).trimEnd())
  const noop = report.noopTick
  add('2. No-op cron tick (channel digest == running digest)')
  if (noop?.instance) add(`   instance: ${noop.instance.repository}${noop.instance.proxy ? ` (a counting proxy in front of ${REGISTRY})` : ''}, project ${noop.instance.project}; publish ${noop.publishSeconds ?? 'n/a'} s, up ${noop.upSeconds ?? 'n/a'} s`)
  if (noop?.cli) {
    const cli = noop.cli
    add(`   agnes upgrade --json   ${range(cli.wall)}   (CLI-internal ${range(cli.cliReportedDuration)})`)
    add(`      outcome ${cli.outcomes.join(', ')}; registryRequests (CLI) ${cli.registryRequests.join('/')}${cli.proxiedRequestsPerTick ? `; seen by the proxy ${cli.proxiedRequestsPerTick.join('/')} per tick ${JSON.stringify(cli.proxiedByKind)}` : ''}`)
    add(`      pull: ${cli.pullEvents} pull events, ${cli.blobGets ?? 'n/a'} blob GETs, image list ${cli.imageListUnchanged ? 'unchanged' : 'CHANGED'}, app container ${cli.appContainerUnchanged ? 'unchanged' : 'CHANGED'}`)
    if (report.coldStart?.version) add(`      floor: a bare \`agnes --version\` cold start is ${ms(report.coldStart.version.median)} of that (part 1)`)
    add(`      ${cli.ratioToComposePull ?? 'n/a'}× the compose pull below; target ≤ ${TARGETS.noopTickOverComposePull}×, ${TARGETS.noopRegistryRequests} registry request, no pull: ${verdict(cli.pass)}`)
  }

  for (const [key, title] of [['compose', 'current approach (compose pull + compare)'], ['dockerPull', 'variant (docker pull + compare)']]) {
    const base = noop?.baseline?.[key]
    if (!base) continue
    if (base.error) {
      add(`   ${title}: ${base.error}`)
      continue
    }

    add(`   ${title}: ${range(base.wall)}`)
    add(`      measured: ${base.command}${base.composeVersion ? `  [${base.composeVersion}]` : ''}`)
    add(`      pull phase ${range(base.pullPhase)}, compare phase ${range(base.comparePhase)}; verdict ${base.verdicts.join(', ')}`)
    add(`      registry requests per tick ${base.registryRequestsPerTick?.join('/') ?? 'n/a'} ${base.proxiedByKind ? JSON.stringify(base.proxiedByKind) : ''}; ${base.pullEvents} pull events, ${base.blobGets ?? 'n/a'} blob GETs${base.failures.length ? `; failures: ${base.failures.join(' / ')}` : ''}`)
  }

  if (noop?.cli?.wall?.median) {
    const ratio = (base) => (base?.wall?.median ? `${round(base.wall.median / noop.cli.wall.median, 2)}×` : 'n/a')
    add(`   → baseline wall ÷ agnes wall (medians): compose pull + compare ${ratio(noop.baseline?.compose)}, docker pull + compare ${ratio(noop.baseline?.dockerPull)} (>1 means agnes is faster)`)
    add('     both baselines ask the engine to pull (a pull event, manifest request) every tick; agnes asks the registry once and Docker not at all')
  }
  add(failed(noop).trimEnd())

  const switchSection = (title, section) => {
    add(title)
    if (section?.release) add(`   release ${section.release.tag} (${section.release.version}${section.release.bootSeconds ? `, bootSeconds ${section.release.bootSeconds}` : ''}${section.release.variant ? `, variant ${section.release.variant}` : ''}) ${section.release.digest?.slice(0, 19)}…`)
    if (section?.boot) add(`   stand-in boot (docker start → healthy) ${range(section.boot.startToHealthy)}; engine StartedAt → healthy ${range(section.boot.engineStartedAtToHealthy)}`)
    if (section?.cli) add(`   ${section.cli.command}: exit ${section.cli.exitCode}, outcome ${section.cli.outcome}, wall ${ms(section.cli.wallMs)} (CLI-internal ${ms(section.cli.cliReportedDurationMs)})`)
    if (section?.downtime) {
      add(`   downtime (longest gap between healthy answers, probe every ${PROBE_INTERVAL_MS} ms): ${ms(section.downtime.ms)}${section.downtime.recovered ? '' : ' (NOT RECOVERED)'}; versions served ${section.versionsServed.join(' → ')}`)
      if (section.breakdown?.newContainerStartAtMs !== undefined) add(`      last healthy old → new container start ${ms(section.breakdown.lastHealthyOldToNewStartMs)} (stop, backup, compose); new start → healthy ${ms(section.breakdown.newStartToHealthyMs)}`)
      if (section.targetMs !== undefined && section.overBootMs !== undefined) add(`      = boot + ${ms(section.overBootMs)}; target ≤ boot + ${ms(TARGETS.downtimeOverBootMs)} = ${ms(section.targetMs)}: ${verdict(section.pass)}`)
    }

    if (section?.smokeEvidence) add(`   smoke gate evidence (new container's request log): ${section.smokeEvidence.error ?? `${section.smokeEvidence.queryRequests} POST /api/query, ${section.smokeEvidence.otherNonHealthRequests} other non-health requests`}`)
  }

  switchSection('3. Downtime of a good upgrade (--no-smoke)', report.goodUpgrade)
  add(failed(report.goodUpgrade).trimEnd())
  switchSection('   …and with the smoke gate on (--smoke-settle 0)', report.smokeUpgrade)
  add(failed(report.smokeUpgrade).trimEnd())

  const rb = report.rollback
  add('4. Rollback after a crash-on-start release')
  if (rb?.old) add(`   old version ${rb.old.version} ${rb.old.digest.slice(0, 19)}…; its boot (docker start → healthy) ${range(rb.oldBoot?.startToHealthy)}`)
  if (rb?.release) add(`   release ${rb.release.tag} (${rb.release.version}, variant ${rb.release.variant}) ${rb.release.digest?.slice(0, 19)}…`)
  if (rb?.cli) add(`   ${rb.cli.command}: exit ${rb.exitCode} (expected ${rb.expectedExitCode}), outcome ${rb.cli.outcome}, wall ${ms(rb.cli.wallMs)}`)
  if (rb?.timeline) {
    add(`   crash container start → old version healthy again: ${ms(rb.rollbackMs)}; target ≤ 5 s + old boot = ${ms(rb.targetMs)}: ${verdict(rb.pass)}`)
    add(`      crash start → first exit ${ms(rb.breakdown.crashStartToDieMs)} (started ${rb.timeline.crashContainerStarts}×); its exit → old container start ${ms(rb.breakdown.crashDieToOldStartMs)}; old start → healthy ${ms(rb.breakdown.oldStartToHealthyMs)}`)
    add(`      whole outage ${ms(rb.downtime?.ms)}; versions served ${rb.versionsServed?.join(' → ')}`)
  }

  if (rb?.nextTick) add(`   next cron tick: exit ${rb.nextTick.exitCode}, outcome ${rb.nextTick.outcome}, ${ms(rb.nextTick.ms)}${rb.nextTick.warnings?.length ? `; warning: ${String(rb.nextTick.warnings[0]).slice(0, 120)}` : ''}`)
  add(failed(rb).trimEnd())

  add()
  for (const line of renderCaddyUpgrade(report.caddyUpgrade, report.cleanup)) add(line)
  add()
  for (const line of renderFleetStatus(report.fleetStatus, {failed, ms, range, verdict})) add(line)
  add()
  const clean = report.cleanup
  if (clean) add(`cleanup: ${clean.kept ? `kept ${clean.kept.dir} (project ${clean.kept.project})` : `${clean.containersRemoved} containers, ${clean.volumesRemoved} volumes, ${clean.localImageTagsRemoved} local image references removed; instance dir removed: ${clean.instanceDirRemoved}; containers left: ${clean.containersLeft}`}`)
  add('report: bench/results/latest.txt; JSON: bench/results/latest.json')
  return lines.filter((line, index, all) => !(line === '' && all[index - 1] === '')).join('\n')
}

function writeResults() {
  mkdirSync(resultsDir, {recursive: true})
  writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`)
}

// ---------------------------------------------------------------------------------------------- main

function onSignal(signal) {
  say(`${signal}: cleaning up…`)
  cleanUp()
  report.meta.interrupted = signal
  writeResults()
  process.exit(signal === 'SIGINT' ? 130 : 143)
}

async function main() {
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  const git = run('git', ['rev-parse', '--short', 'HEAD']).stdout.trim()
  const dirty = run('git', ['status', '--porcelain', '--untracked-files=no']).stdout.trim() !== ''
  report.meta = {
    startedAt: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim(),
    loadStart: os.loadavg().map((load) => load.toFixed(2)).join(' '),
    git: `${git || 'unknown'}${dirty ? ' (dirty tree)' : ''}`,
    runs: RUNS,
    runId: ctx.runId,
    targets: TARGETS,
  }
  if (!existsSync(join(repoRoot, 'dist'))) say('warning: dist/ is missing; run `npm run build` first (npm run bench does)')

  try {
    await part('coldStart', '1. cold start', PARTS.has('1'), coldStart)
    if ([...PARTS].some((key) => key !== '1')) {
      const infra = run('bash', [join(repoRoot, 'test', 'infra', 'start-docker.sh')], {timeoutMs: 180_000})
      if (infra.code !== 0) say(`start-docker.sh failed: ${infra.stderr.trim().split('\n').slice(-3).join(' | ')}`)
    }

    report.meta.docker = run('docker', ['version', '--format', '{{.Server.Version}}']).stdout.trim() || 'unreachable'
    report.meta.compose = composeCommand()?.label ?? 'no compose'
    await part('noopTick', '2. no-op cron tick', ['2', '3', '4', '6'].some((key) => PARTS.has(key)), noopTick)
    await part('goodUpgrade', '3. downtime of a good upgrade', PARTS.has('3'), goodUpgrade)
    await part('smokeUpgrade', '3b. good upgrade with the smoke gate', PARTS.has('3'), smokeUpgrade)
    await part('rollback', '4. rollback after a crash-on-start release', PARTS.has('4'), rollback)
    await part('caddyUpgrade', '5. a good upgrade through Caddy', PARTS.has('5'), (out) => caddyUpgrade(out, ctx, fail))
    await part('fleetStatus', '6. fleet status through sshd', PARTS.has('6'), (out) => fleetStatusBench(out, ctx, fail, RUNS))
  } finally {
    say('cleaning up…')
    cleanUp()
    await ctx.proxy?.close()
    report.meta.loadEnd = os.loadavg().map((load) => load.toFixed(2)).join(' ')
    report.meta.endedAt = new Date().toISOString()
    writeResults()
  }

  const text = render()
  writeFileSync(join(resultsDir, 'latest.txt'), `${text}\n`)
  process.stdout.write(`${text}\n`)
  const failures = Object.entries(report).filter(([key, section]) => key !== 'meta' && key !== 'cleanup' && section && !section.ok && !section.skipped)
  process.exitCode = failures.length > 0 ? 1 : 0
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error.message}\n`)
  try {
    cleanUp()
    writeResults()
  } catch {
    // best effort
  }

  process.exit(1)
})
