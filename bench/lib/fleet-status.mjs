// Part 6 of the bench: `agnes fleet status` over 10 inventory rows reached through a real OpenSSH server
// (test/infra/start-sshd.sh, host key verified), next to 10 sequential `ssh … agnes status --json` in the
// same run, interleaved. Every row is the instance of part 2 (status only reads), so both sides do the same
// per-instance work; what differs is the fleet's shared connection and its one remote agnes per host
// (`agnes fleet host-status` with the ten directories, read at once in one process).
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {binPath, describeFailure, repoRoot, round, run, runAgnes, runAsync, say, stats} from './proc.mjs'

const ROWS = 10
export const FLEET_STATUS_TARGET = 0.3

function startSshd(stateDir) {
  const binDir = join(stateDir, 'bin')
  mkdirSync(binDir, {recursive: true})
  // The remote `agnes` of the sshd sessions: this checkout's build, with the compose flavour of this run.
  const compose = process.env.AGNES_COMPOSE ? `export AGNES_COMPOSE='${process.env.AGNES_COMPOSE}'\n` : ''
  writeFileSync(join(binDir, 'agnes'), `#!/bin/sh\n${compose}exec '${process.execPath}' '${binPath}' "$@"\n`)
  chmodSync(join(binDir, 'agnes'), 0o755)
  const started = run('bash', [join(repoRoot, 'test', 'infra', 'start-sshd.sh'), join(stateDir, 'sshd'), binDir], {timeoutMs: 60_000})
  if (started.code !== 0) return {error: `start-sshd.sh failed: ${started.stderr.trim().split('\n').slice(-2).join(' | ')}`}
  return Object.fromEntries(started.stdout.trim().split('\n').map((line) => line.split('=', 2)))
}

async function sequentialStatus(sshd, dir) {
  const started = performance.now()
  for (let row = 0; row < ROWS; row++) {
    const argv = ['-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${sshd.KNOWN_HOSTS}`, '-o', 'IdentitiesOnly=yes', '-i', sshd.KEY, '-p', sshd.PORT, '-l', sshd.USER, '--', '127.0.0.1', 'agnes', 'status', '--dir', dir, '--json']
    const result = await runAsync('ssh', argv, {timeoutMs: 120_000})
    let ok = false
    try {
      ok = JSON.parse(result.stdout).ok === true
    } catch {
      ok = false
    }

    if (result.code !== 0 || !ok) return {error: `ssh … agnes status: exit ${result.code}: ${result.stderr.trim().split('\n').at(-1) ?? ''}`}
  }

  return {ms: performance.now() - started}
}

async function fleetStatus(inventory) {
  const result = await runAgnes(['fleet', 'status', '--inventory', inventory, '--json'], {timeoutMs: 120_000})
  if (result.code !== 0 || result.json?.result?.reachable !== ROWS) return {error: `agnes fleet status: ${describeFailure(result)}`}
  return {ms: result.ms}
}

export async function fleetStatusBench(out, ctx, fail, runs) {
  if (!ctx.ready) fail('skipped: the instance from part 2 is not running')
  const sshd = startSshd(join(ctx.tmp, 'fleet'))
  if (sshd.error) fail(sshd.error)
  ctx.sshdPid = Number(sshd.PID)
  const inventory = join(ctx.tmp, 'fleet', 'fleet.yaml')
  const rows = Array.from({length: ROWS}, (_, index) => `  - {name: row-${index + 1}, target: "${sshd.USER}@127.0.0.1:${sshd.PORT}", dir: "${ctx.dir}"}`)
  writeFileSync(inventory, `ssh:\n  knownHosts: ${sshd.KNOWN_HOSTS}\n  identityFile: ${sshd.KEY}\ninstances:\n${rows.join('\n')}\n`)
  out.rows = ROWS
  out.runs = Math.min(runs, 5)

  // One uncounted run of each (page cache, sshd's first session), then interleaved measured runs.
  for (const attempt of [await fleetStatus(inventory), await sequentialStatus(sshd, ctx.dir)]) if (attempt.error) fail(attempt.error)
  const fleet = []
  const sequential = []
  for (let index = 0; index < out.runs; index++) {
    say(`fleet status run ${index + 1}/${out.runs}…`)
    const ours = await fleetStatus(inventory)
    if (ours.error) fail(ours.error)
    fleet.push(ours.ms)
    const theirs = await sequentialStatus(sshd, ctx.dir)
    if (theirs.error) fail(theirs.error)
    sequential.push(theirs.ms)
  }

  out.fleet = {command: `agnes fleet status --json (${ROWS} rows, one host)`, wall: stats(fleet)}
  out.sequential = {command: `${ROWS} × ssh … agnes status --dir … --json, one after another`, wall: stats(sequential)}
  out.ratio = round(out.fleet.wall.median / out.sequential.wall.median, 2)
  out.pass = out.ratio <= FLEET_STATUS_TARGET
}

/** Stops the sshd of part 6 (its files go with the bench's temporary directory). */
export function cleanUpFleetStatus(ctx) {
  if (!ctx.sshdPid) return
  try {
    process.kill(ctx.sshdPid)
  } catch {
    // Already gone.
  }

  ctx.sshdPid = undefined
}

export function renderFleetStatus(section, {ms, range, verdict, failed}) {
  const lines = ['6. fleet status over 10 instances through sshd']
  if (section?.fleet) {
    lines.push(`   ${section.fleet.command}   ${range(section.fleet.wall)}`)
    lines.push(`   ${section.sequential.command}   ${range(section.sequential.wall)}`)
    lines.push(`      ${section.ratio}× the sequential figure (medians of ${section.runs} interleaved runs, ${ms(section.sequential.wall.median / section.rows)} a row sequentially); target ≤ ${FLEET_STATUS_TARGET}×: ${verdict(section.pass)}`)
  }

  lines.push(failed(section).trimEnd())
  return lines
}
