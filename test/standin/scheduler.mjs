// Scheduler mode (`python -m services.scheduler` in the compose file): probe the app with the scheduler
// bearer on an interval, log what it saw, and never crash when the app is down.
const PROBE_TIMEOUT_MS = 10_000

export async function runScheduler({apiUrl, intervalSeconds, schedulerToken, log}) {
  const healthUrl = `${apiUrl.replace(/\/+$/, '')}/api/health`
  log.info(`Scheduler started: probing ${healthUrl} every ${intervalSeconds}s`)
  if (!schedulerToken) log.warn('SCHEDULER_API_TOKEN is unset or shorter than 32 characters: calls go out without Authorization and get 401')

  const tick = async () => {
    try {
      const response = await fetch(healthUrl, {
        headers: schedulerToken ? {authorization: `Bearer ${schedulerToken}`} : {},
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      })
      const body = await response.json().catch(() => ({}))
      log.info(`Scheduler tick: app answered HTTP ${response.status}, status ${body.status ?? 'unknown'}`)
    } catch (error) {
      log.warn(`Scheduler tick: app unreachable (${error.cause?.code ?? error.name})`)
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
