import {deadline} from '../deadline.js'
import {DeferredError} from '../errors.js'
import {Instance, localBaseUrl, writeState} from '../instance/state.js'
import {Reporter} from '../ui/reporter.js'

/** Deferring a switch while a sync runs, but not forever (docs/design.md#defer-while-busy-but-not-forever). */

export interface BusyVerdict {
  busy: boolean
  why?: string
}

/** A sync in progress: /api/sync/status locked, or a running data-refresh job. Probes fail open. */
export async function instanceBusy(instance: Instance, signal?: AbortSignal): Promise<BusyVerdict> {
  const baseUrl = localBaseUrl(instance.env)
  const first = deadline(5000, signal)
  try {
    const response = await fetch(`${baseUrl}/api/sync/status`, {signal: first.signal})
    if (response.ok && ((await response.json()) as {locked?: boolean}).locked === true) return {busy: true, why: 'a sync holds the sync lock'}
  } catch {
    // Fail open: an instance that cannot answer is not busy syncing.
  } finally {
    first.clear()
  }

  const token = instance.env.get('SCHEDULER_API_TOKEN')
  if (!token) return {busy: false}
  const second = deadline(5000, signal)
  try {
    const response = await fetch(`${baseUrl}/api/jobs?kind=data-refresh&status=running&limit=1`, {headers: {authorization: `Bearer ${token}`}, signal: second.signal})
    if (response.ok) {
      const body = (await response.json()) as {jobs?: unknown[]} | unknown[]
      const jobs = Array.isArray(body) ? body : (body.jobs ?? [])
      if (jobs.length > 0) return {busy: true, why: 'a data-refresh job is running'}
    }
  } catch {
    // Fail open, as above.
  } finally {
    second.clear()
  }

  return {busy: false}
}

export interface DeferralOptions {
  instance: Instance
  reporter: Reporter
  signal?: AbortSignal
  maxDeferMs: number
  /** The result a deferred run reports (exit 75). */
  deferredResult: (since: string, why: string) => object
}

/**
 * A check to run before anything stops: a busy instance defers the switch (exit 75), remembering since
 * when; once the deferral has lasted maxDeferMs the switch proceeds anyway, and later checks of the same
 * run pass.
 */
export function deferWhileBusy(options: DeferralOptions): () => Promise<void> {
  const {instance, maxDeferMs, reporter, signal} = options
  const {paths, state} = instance
  let overdue = false
  return async () => {
    if (overdue) return
    const busy = await instanceBusy(instance, signal)
    if (!busy.busy) return
    const since = state.deferredSince ?? new Date().toISOString()
    if (Date.now() - Date.parse(since) >= maxDeferMs) {
      overdue = true
      reporter.warn(`the instance has been busy since ${since}; the maximum deferral has passed, upgrading anyway.`)
      return
    }

    if (!state.deferredSince) {
      state.deferredSince = since
      await writeState(paths, state)
    }

    throw new DeferredError(`the instance is busy (${busy.why}); the upgrade is deferred`, {
      hint: `The next run tries again; after ${Math.round(maxDeferMs / 60_000)} min of deferral it proceeds anyway.`,
      result: options.deferredResult(since, busy.why ?? 'busy'),
    })
  }
}
