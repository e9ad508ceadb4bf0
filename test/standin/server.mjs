// The Agnes stand-in server: behaves like the real instance's HTTP API for the endpoints the `agnes` CLI
// uses. Runs as a local process (fast tests) and as the entrypoint of the stand-in images.
// Configuration is by environment only; see README.md in this folder.
import {createServer} from 'node:http'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {createApp} from './app.mjs'
import {isFernetKey, isUsableSecret} from './credentials.mjs'
import {runScheduler} from './scheduler.mjs'
import {StateStore} from './state-store.mjs'

const VARIANTS = ['ok', 'crash', 'never-healthy', 'schema-mismatch', 'failing-smoke', 'slow-boot']
const SLOW_BOOT_DEFAULT_SECONDS = 30
const DEFAULT_SCHEMA_VERSION = 121
const DRAIN_TIMEOUT_MS = 5000

const log = Object.fromEntries(['info', 'warn', 'error'].map((level) => [level, (message) => {
  process.stdout.write(`${new Date().toISOString()} ${level === 'warn' ? 'WARNING' : level.toUpperCase()} ${message}\n`)
}]))

class ConfigError extends Error {}

function numberFromEnv(env, name, fallback, {integer = false} = {}) {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new ConfigError(`${name} must be a non-negative ${integer ? 'integer' : 'number'} (got '${raw}')`)
  }
  return value
}

function listFromEnv(raw) {
  return (raw ?? '').split(',').map((item) => item.trim().toLowerCase()).filter(Boolean)
}

function readConfig(env) {
  const variant = env.STANDIN_VARIANT || 'ok'
  if (!VARIANTS.includes(variant)) throw new ConfigError(`STANDIN_VARIANT must be one of ${VARIANTS.join(', ')} (got '${variant}')`)
  const dataDir = env.DATA_DIR || '/data'
  return {
    variant,
    port: numberFromEnv(env, 'PORT', 8000, {integer: true}),
    dataDir,
    stateDir: join(dataDir, 'state'),
    jwtSecret: env.JWT_SECRET_KEY ?? '',
    schedulerToken: isUsableSecret(env.SCHEDULER_API_TOKEN) ? env.SCHEDULER_API_TOKEN : undefined,
    bootstrapToken: env.AGNES_BOOTSTRAP_TOKEN || undefined,
    vaultKeyConfigured: isFernetKey(env.AGNES_VAULT_KEY),
    seedAdminEmail: env.SEED_ADMIN_EMAIL?.trim() || undefined,
    seedAdminPassword: env.SEED_ADMIN_PASSWORD || undefined,
    version: env.AGNES_VERSION || 'dev',
    channel: env.RELEASE_CHANNEL || 'dev',
    imageTag: env.AGNES_TAG || 'unknown',
    commitSha: env.AGNES_COMMIT_SHA || null,
    expectedSchemaVersion: numberFromEnv(env, 'STANDIN_SCHEMA_VERSION', DEFAULT_SCHEMA_VERSION, {integer: true}),
    bootSeconds: numberFromEnv(env, 'STANDIN_BOOT_SECONDS', variant === 'slow-boot' ? SLOW_BOOT_DEFAULT_SECONDS : 0),
    syncSeconds: numberFromEnv(env, 'STANDIN_SYNC_SECONDS', 2),
    triggerHoldSeconds: numberFromEnv(env, 'STANDIN_TRIGGER_HOLD_SECONDS', 30),
    schedulerIntervalSeconds: numberFromEnv(env, 'STANDIN_SCHEDULER_INTERVAL_SECONDS', 30),
    legacySync409: env.STANDIN_LEGACY_SYNC_409 === '1',
    rateLimitEnabled: env.AGNES_AUTH_RATELIMIT_ENABLED === '1',
    ssrfAllowedHosts: new Set(listFromEnv(env.AGNES_SSRF_ALLOWED_HOSTS)),
    authProviders: env.AGNES_AUTH_PROVIDERS ? new Set(listFromEnv(env.AGNES_AUTH_PROVIDERS)) : undefined,
    maxQueryRows: numberFromEnv(env, 'AGNES_MAX_QUERY_ROWS', 1_000_000, {integer: true}),
    apiUrl: env.API_URL || 'http://app:8000',
  }
}

function fail(message) {
  log.error(message)
  process.exit(1)
}

async function main() {
  let config
  try {
    config = readConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) fail(`Invalid configuration: ${error.message}`)
    throw error
  }

  let server
  let app
  const shutdown = (signal) => {
    log.info(`Received ${signal}: shutting down`)
    if (!server) process.exit(0)
    server.close(() => {
      app.shutdown()
      log.info('Shutdown complete')
      process.exit(0)
    })
    server.closeIdleConnections()
    setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS).unref()
  }

  log.info(`Agnes ${config.version} | channel: ${config.channel} | schema v${config.expectedSchemaVersion}`)
  if (config.variant === 'crash') fail('Fatal error during startup: RuntimeError: simulated crash (stand-in variant "crash")')

  if (process.argv.slice(2).includes('services.scheduler')) {
    await runScheduler({apiUrl: config.apiUrl, intervalSeconds: config.schedulerIntervalSeconds, schedulerToken: config.schedulerToken, log})
    return
  }
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => shutdown(signal))

  if (!isUsableSecret(config.jwtSecret)) fail('JWT_SECRET_KEY is missing or shorter than 32 characters: refusing to start')

  let opened
  try {
    opened = StateStore.open({stateDir: config.stateDir, expectedSchemaVersion: config.expectedSchemaVersion, log})
  } catch (error) {
    fail(`Cannot open the state in ${config.stateDir}: ${error.message}`)
  }

  if (config.bootSeconds > 0) {
    log.info(`Warming up for ${config.bootSeconds}s before serving`)
    await sleep(config.bootSeconds * 1000)
  }

  app = createApp({config, store: opened.store, schemaCheck: opened.schema, log})
  server = createServer((request, response) => {
    app.handleRequest(request, response)
  })
  server.on('error', (error) => fail(`Cannot listen on port ${config.port}: ${error.message}`))
  server.listen(config.port, () => log.info(`Listening on http://0.0.0.0:${server.address().port} (variant ${config.variant})`))
}

await main()
