// Docker helpers: event watching, the stand-in's own boot time, image listings and cleanup by label.
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'

import {freePort, now, run, sleep} from './proc.mjs'
import {probeHealth} from './probe.mjs'

/** `docker compose` (v2) when present, else `docker-compose` (v1); undefined when neither answers. */
export function composeCommand() {
  // AGNES_COMPOSE=v1|v2 picks the flavour for agnes and for the baseline alike (run the bench once per flavour).
  const wanted = process.env.AGNES_COMPOSE
  const v2 = wanted === 'v1' ? undefined : run('docker', ['compose', 'version', '--short'])
  if (v2?.code === 0) return {command: 'docker', prefix: ['compose'], label: `docker compose ${v2.stdout.trim()} (v2)`}
  const v1 = wanted === 'v2' ? undefined : run('docker-compose', ['version', '--short'])
  if (v1?.code === 0) return {command: 'docker-compose', prefix: [], label: `docker-compose ${v1.stdout.trim()} (v1)`}
  return undefined
}

/**
 * Streams `docker events` (from a second before now, so nothing is missed while the stream starts) and keeps
 * every event with its time in epoch ms.
 */
export function watchEvents(filters) {
  const since = ((Date.now() - 1000) / 1000).toFixed(3)
  const args = ['events', '--since', since, '--format', '{{json .}}', ...filters.flatMap((filter) => ['--filter', filter])]
  const child = spawn('docker', args, {stdio: ['ignore', 'pipe', 'pipe']})
  const events = []
  let buffer = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    buffer += chunk.toString('utf8')
    let newline
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim()
      buffer = buffer.slice(newline + 1)
      if (!line) continue
      try {
        const event = JSON.parse(line)
        event.at = event.timeNano ? Number(BigInt(event.timeNano) / 1000n) / 1000 : event.time * 1000
        events.push(event)
      } catch {
        // ignore a line that is not JSON
      }
    }
  })
  child.stderr.on('data', (chunk) => (stderr += chunk.toString('utf8')))
  const exited = new Promise((resolvePromise) => child.on('close', resolvePromise))
  return {
    events,
    stderr: () => stderr,
    async stop(settleMs = 300) {
      await sleep(settleMs)
      if (child.exitCode === null) child.kill('SIGTERM')
      await Promise.race([exited, sleep(2000)])
      return events
    },
  }
}

/** Container events reduced to what the report needs. */
export function containerTimeline(events) {
  return events
    .filter((event) => event.Type === 'container')
    .map((event) => ({
      at: event.at,
      action: event.Action ?? event.status,
      id: (event.Actor?.ID ?? event.id ?? '').slice(0, 12),
      service: event.Actor?.Attributes?.['com.docker.compose.service'],
      image: event.Actor?.Attributes?.image ?? event.from,
      exitCode: event.Actor?.Attributes?.exitCode,
    }))
    .sort((a, b) => a.at - b.at)
}

/**
 * The stand-in's own boot time for an image: `docker create` a bare container (JWT_SECRET_KEY set, port
 * published, the instance's memory and CPU limits), then time `docker start` → first healthy answer on
 * /api/health (polled every 20 ms), and also StartedAt (the engine's start time) → healthy.
 */
export async function measureBoot(image, {runs = 3, label, timeoutMs = 120_000} = {}) {
  const samples = []
  for (let index = 0; index < runs; index++) {
    const port = await freePort()
    const create = run('docker', ['create', '--label', label, '-e', `JWT_SECRET_KEY=${randomBytes(24).toString('hex')}`, '-p', `127.0.0.1:${port}:8000`, '--memory', '512m', '--cpus', '1', image])
    if (create.code !== 0) throw new Error(`docker create ${image} failed: ${create.stderr.trim()}`)
    const id = create.stdout.trim()
    try {
      const t0 = now()
      const start = run('docker', ['start', id])
      const startReturned = now()
      if (start.code !== 0) throw new Error(`docker start failed: ${start.stderr.trim()}`)
      let healthyAt
      const deadline = t0 + timeoutMs
      while (now() < deadline) {
        const answer = await probeHealth(`http://127.0.0.1:${port}`, 1000)
        if (answer.healthy) {
          healthyAt = answer.at
          break
        }

        await sleep(20)
      }

      if (healthyAt === undefined) throw new Error(`${image} never answered healthy within ${timeoutMs / 1000}s`)
      const startedAt = Date.parse(run('docker', ['inspect', '--format', '{{.State.StartedAt}}', id]).stdout.trim())
      samples.push({startToHealthyMs: healthyAt - t0, startedAtToHealthyMs: Number.isFinite(startedAt) ? healthyAt - startedAt : null, dockerStartMs: startReturned - t0})
    } finally {
      run('docker', ['rm', '-f', '-v', id])
    }
  }

  return samples
}

/** Image references (repo:tag or repo@digest) of the given repositories on this host, sorted. */
export function localImages(repositories) {
  const lines = []
  for (const repository of repositories) {
    const out = run('docker', ['images', '--digests', '--no-trunc', '--format', '{{.Repository}}|{{.Tag}}|{{.Digest}}|{{.ID}}', repository]).stdout.trim()
    if (out) lines.push(...out.split('\n'))
  }

  return lines.sort()
}

/** Removes every container, volume and network of a compose project, and containers with a label. */
export function removeByLabel({project, label}) {
  const removed = {containers: 0, volumes: 0}
  const filters = []
  if (project) filters.push(`label=com.docker.compose.project=${project}`)
  if (label) filters.push(`label=${label}`)
  for (const filter of filters) {
    const ids = run('docker', ['ps', '-aq', '--filter', filter]).stdout.trim()
    if (ids) {
      run('docker', ['rm', '-f', '-v', ...ids.split('\n')])
      removed.containers += ids.split('\n').length
    }
  }

  if (project) {
    const volumes = run('docker', ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]).stdout.trim()
    if (volumes) {
      run('docker', ['volume', 'rm', '-f', ...volumes.split('\n')])
      removed.volumes += volumes.split('\n').length
    }

    const networks = run('docker', ['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${project}`]).stdout.trim()
    for (const network of networks ? networks.split('\n') : []) run('docker', ['network', 'rm', network])
    run('docker', ['network', 'rm', `${project}_default`])
  }

  return removed
}

/** Untags (never force-removes) every local image of the given repositories. */
export function removeImages(repositories) {
  let removed = 0
  for (const line of localImages(repositories)) {
    const [repository, tag, digest] = line.split('|')
    const reference = tag && tag !== '<none>' ? `${repository}:${tag}` : digest && digest !== '<none>' ? `${repository}@${digest}` : undefined
    if (reference && run('docker', ['rmi', reference]).code === 0) removed++
  }

  return removed
}
