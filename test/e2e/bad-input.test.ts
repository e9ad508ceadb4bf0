// docs/design.md#bad-input-changes-nothing: every bad input gets a message that says what was wrong and what to do, a non-zero
// exit code from the table, exactly one JSON document under --json, and changes nothing. Each case below runs
// the built CLI twice (plain and --json), each time on a fresh copy of an initialised instance, and compares
// every file, mode and symlink target under the case's sandbox before and after. No case needs a running
// instance: a bad input must be refused before any engine or network work.
import {appendFileSync, cpSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startRecordingServer} from '../helpers/recording-server.js'
import {CliResult, repoRoot, runAgnes} from '../helpers/run-cli.js'
import {diffSnapshots, snapshotTree} from '../helpers/tree-snapshot.js'
import {TestInstance, destroyInstance, newInstance, readEnvFile, secretsLedger} from './fixtures.js'

/** Every command, plus `unknown` for commands and flags that do not exist. */
type CommandName = 'init' | 'up' | 'status' | 'upgrade' | 'pin' | 'rollback' | 'history' | 'configure' | 'register-table' | 'smoke' | 'logs' | 'schedule:install' | 'schedule:remove' | 'schedule:status' | 'doctor' | 'backup' | 'backup:list' | 'restore' | 'release:retract' | 'fleet:status' | 'fleet:upgrade' | 'fleet:host-status' | 'reject' | 'help' | 'unknown'

interface Sandbox {
  /** Everything under it is compared before and after the run. */
  root: string
  /** A fresh copy of an initialised instance (the default --dir). */
  instance: string
  /** A path under root that does not exist (for init into a new directory, or a missing instance). */
  fresh: string
  /** Files the case needs outside the instance (symlink targets, token files), still under root. */
  outside: string
  /** Port of a recording stranger on 127.0.0.1, when the case has one. */
  strangerPort: number
}

interface BadInputCase {
  command: CommandName
  /** What is wrong, in words. */
  name: string
  args: string[] | ((s: Sandbox) => string[])
  /** What --dir gets: the instance copy (default), the fresh path, a path of the case's own, or no --dir at all. */
  dir?: 'instance' | 'fresh' | 'none' | ((s: Sandbox) => string)
  setup?: (s: Sandbox) => void
  env?: Record<string, string> | ((s: Sandbox) => Record<string, string>)
  exit: number
  /** What was wrong: the error message (or the warning, or the output for `succeeds`) must match. */
  says: RegExp
  /** What to do: the hint must match (it must be non-empty in every error case anyway). */
  hint?: RegExp
  /** Values given in the case that must never appear in any output. */
  secrets?: string[]
  /** Starts a recording listener on 127.0.0.1 that must receive no credential of the instance. */
  stranger?: {explicitToken?: string}
  /**
   * The input is dubious but not fatal: the command succeeds (exit 0) and says so, as a warning (also in the
   * JSON `warnings`) or, with `notice`, anywhere in its output.
   */
  succeeds?: 'warning' | 'notice'
  check?: (result: CliResult, s: Sandbox, expect: typeof import('vitest').expect) => void
}

const REPOSITORY = '127.0.0.1:5000/e2e-bad-input/agnes'
const ADMIN_PASSWORD = 'Bad-input-admin-pw-7431'
const KEBOOLA_TOKEN = 'bad-input-kbc-token-5512-abcdef'
/** Written into the instance's .env by the foreign-URL case: the instance's own Keboola token. */
const ENV_KEBOOLA_TOKEN = 'env-file-kbc-token-9931-zyxwvu'
const API_TOKEN = 'bad-input-api-token-0123456789abcdef0123'
const WEBHOOK = 'https://hooks.slack.com/services/T0BAD/B0INPUT/s3cr3tWebhookPath'
const URL_PASSWORD = 'UrlPassw0rd-8812'
const LINE_ONE = 'secret-line-one-4417'
const LINE_TWO = 'secret-line-two-9902'
const VALID_HISTORY = [
  {action: 'up', durationMs: 1200, outcome: 'deployed', time: '2026-04-01T10:00:00.000Z', to: {digest: `sha256:${'a'.repeat(64)}`, tag: 'stable'}},
  {action: 'upgrade', durationMs: 3400, from: {digest: `sha256:${'a'.repeat(64)}`}, outcome: 'upgraded', time: '2026-04-02T10:00:00.000Z', to: {digest: `sha256:${'b'.repeat(64)}`, tag: 'stable'}},
]

const write = (path: string, text: string) => writeFileSync(path, text)
const inInstance = (s: Sandbox, ...parts: string[]) => join(s.instance, ...parts)
/** Moves a path of the instance outside it and leaves a symlink in its place. */
function replaceWithSymlink(s: Sandbox, relative: string): void {
  mkdirSync(s.outside, {recursive: true})
  const target = join(s.outside, relative.replace(/[/.]/g, '_'))
  renameSync(inInstance(s, relative), target)
  symlinkSync(target, inInstance(s, relative))
}

/** Replaces the one definition of key in the instance's .env (a hand edit). */
function setEnvLine(s: Sandbox, key: string, value: string): void {
  const path = inInstance(s, '.env')
  const text = readFileSync(path, 'utf8')
  if (!new RegExp(`^${key}=`, 'm').test(text)) throw new Error(`${key} is not in the template's .env`)
  writeFileSync(path, text.replace(new RegExp(`^${key}=.*$`, 'm'), `${key}=${value}`))
}

function outsideFile(s: Sandbox, name: string, text: string): string {
  mkdirSync(s.outside, {recursive: true})
  const path = join(s.outside, name)
  writeFileSync(path, text, {mode: 0o600})
  return path
}

const USAGE_HINT = /--help/
const SECRET_HINT_PASSWORD = /AGNES_ADMIN_PASSWORD|--admin-password-file|--admin-password-stdin/
const SECRET_HINT_KEBOOLA = /AGNES_KEBOOLA_TOKEN|--keboola-token-file|--keboola-token-stdin/
const INIT_OK = ['--admin-email', 'admin@example.com']
const KEBOOLA_URL = ['--data-source', 'keboola', '--keboola-url', 'https://connection.keboola.com']

const CASES: BadInputCase[] = [
  // ---- unknown commands and flags
  {command: 'unknown', name: 'an unknown command', args: ['frobnicate'], dir: 'none', exit: 2, says: /frobnicate/, hint: /agnes --help|agnes help/},
  {command: 'unknown', name: 'a mistyped command', args: ['statu'], dir: 'none', exit: 2, says: /statu/, hint: /help/},
  {command: 'unknown', name: 'an unknown subcommand', args: ['status', 'everything'], dir: 'none', exit: 2, says: /everything/, hint: /help/},
  {command: 'unknown', name: 'an unknown flag', args: ['status', '--frobnicate'], exit: 2, says: /--frobnicate/, hint: USAGE_HINT},
  // A usage error names the flag, never its value: the value could be a secret typed in the wrong place.
  {command: 'unknown', name: 'an unknown flag with a value', args: ['init', '--frobnicate=zebra-value-31'], exit: 2, says: /--frobnicate/, hint: USAGE_HINT, secrets: ['zebra-value-31']},

  // ---- init
  {command: 'init', name: 'no admin email, non-interactively, for a new directory', args: ['--non-interactive'], dir: 'fresh', exit: 4, says: /--admin-email/, hint: /--admin-email/},
  {command: 'init', name: 'no admin email and no terminal (no --non-interactive)', args: [], dir: 'fresh', exit: 4, says: /--admin-email/, hint: /--admin-email/},
  {command: 'init', name: 'an email without @', args: ['--admin-email', 'admin.example.com'], exit: 3, says: /--admin-email.*admin\.example\.com/, hint: /admin@example\.com/},
  {command: 'init', name: 'an email without a domain suffix', args: ['--admin-email', 'admin@localhost'], dir: 'fresh', exit: 3, says: /--admin-email/},
  {command: 'init', name: 'an email with a space', args: ['--admin-email', 'ad min@example.com'], exit: 3, says: /--admin-email/},
  {command: 'init', name: 'port 0', args: ['--http-port', '0'], exit: 3, says: /--http-port.*"0"/, hint: /1 (to|-|–) 65535/},
  {command: 'init', name: 'port 70000', args: ['--http-port', '70000'], exit: 3, says: /--http-port.*70000/},
  {command: 'init', name: 'port abc', args: ['--http-port', 'abc', ...INIT_OK], dir: 'fresh', exit: 3, says: /--http-port.*abc/},
  {command: 'init', name: 'a month 13 version', args: ['--pin', 'stable-2026.13.1'], exit: 3, says: /stable-2026\.13\.1/, hint: /stable-2026\.04\.3/},
  {command: 'init', name: 'the version "latest"', args: ['--pin', 'latest'], exit: 3, says: /latest/, hint: /stable-\d{4}\.\d{2}\.\d/},
  {command: 'init', name: 'a channel given as the version', args: ['--pin', 'stable'], exit: 3, says: /channel/},
  {command: 'init', name: 'a version that looks like a flag', args: ['--pin=--foo'], exit: 3, says: /--pin/},
  {command: 'init', name: 'an unknown channel', args: ['--channel', 'beta'], exit: 2, says: /--channel/, hint: USAGE_HINT},
  {command: 'init', name: 'an unknown TLS mode', args: ['--tls', 'bogus'], exit: 3, says: /--tls.*bogus/},
  {command: 'init', name: 'TLS without a domain', args: ['--tls', 'acme', '--non-interactive'], exit: 4, says: /--domain/, hint: /--domain/},
  {command: 'init', name: 'ACME without an email', args: ['--tls', 'acme', '--domain', 'agnes.example.com', '--non-interactive'], exit: 4, says: /--acme-email/, hint: /--acme-email/},
  {command: 'init', name: 'a domain with a scheme', args: ['--tls', 'internal', '--domain', 'https://agnes.example.com'], exit: 3, says: /--domain/, hint: /without scheme/},
  {command: 'init', name: 'a bare host name as the domain', args: ['--tls', 'internal', '--domain', 'localhost'], exit: 3, says: /--domain.*localhost/},
  {command: 'init', name: 'certificate files missing', args: (s) => ['--tls', 'files', '--domain', 'agnes.example.com', '--tls-cert-dir', s.outside], setup: (s) => mkdirSync(s.outside), exit: 3, says: /fullchain\.pem/},
  {command: 'init', name: 'an unknown data source', args: ['--data-source', 'snowflake'], exit: 3, says: /--data-source.*snowflake/},
  {command: 'init', name: 'a Keboola URL with another scheme', args: ['--data-source', 'keboola', '--keboola-url', 'ftp://connection.keboola.com'], exit: 3, says: /--keboola-url/, hint: /https:\/\//},
  {command: 'init', name: 'a Keboola URL that is no URL', args: ['--data-source', 'keboola', '--keboola-url', 'connection keboola'], exit: 3, says: /--keboola-url/},
  {
    command: 'init',
    name: 'a Keboola URL with a password in it',
    args: ['--data-source', 'keboola', '--keboola-url', `https://user:${URL_PASSWORD}@connection.keboola.com`],
    exit: 3,
    says: /--keboola-url.*credentials/,
    secrets: [URL_PASSWORD],
  },
  {command: 'init', name: 'a Keboola stack without a token', args: KEBOOLA_URL, exit: 4, says: /Keboola Storage token/, hint: SECRET_HINT_KEBOOLA},
  {command: 'init', name: 'a Keboola token file that does not exist', args: (s) => [...KEBOOLA_URL, '--keboola-token-file', join(s.outside, 'missing')], exit: 3, says: /Keboola Storage token/, hint: /--keboola-token-file/},
  {command: 'init', name: 'an empty Keboola token file', args: (s) => [...KEBOOLA_URL, '--keboola-token-file', outsideFile(s, 'empty', '')], exit: 3, says: /empty/},
  {
    command: 'init',
    name: 'a newline in the Keboola token given through the environment',
    args: KEBOOLA_URL,
    env: {AGNES_KEBOOLA_TOKEN: `${LINE_ONE}\n${LINE_TWO}`},
    exit: 3,
    says: /AGNES_KEBOOLA_TOKEN/,
    secrets: [LINE_ONE, LINE_TWO],
  },
  {command: 'init', name: 'a newline in the admin password given through the environment', args: [], env: {AGNES_ADMIN_PASSWORD: `${LINE_ONE}\n${LINE_TWO}`}, exit: 3, says: /AGNES_ADMIN_PASSWORD/, secrets: [LINE_ONE, LINE_TWO]},
  {command: 'init', name: 'an admin password that is too short', args: [], env: {AGNES_ADMIN_PASSWORD: 'Sh0rt!x'}, exit: 3, says: /at least 8 characters/, secrets: ['Sh0rt!x']},
  {command: 'init', name: 'two secrets from one stdin', args: ['--admin-password-stdin', '--keboola-token-stdin', ...KEBOOLA_URL], exit: 3, says: /stdin/},
  {command: 'init', name: 'a BigQuery project id with capitals', args: ['--data-source', 'bigquery', '--bigquery-project', 'My_Project'], exit: 3, says: /--bigquery-project.*My_Project/},
  {command: 'init', name: 'BigQuery without a project, non-interactively', args: ['--data-source', 'bigquery', '--non-interactive'], exit: 4, says: /--bigquery-project/},
  {command: 'init', name: 'a BigQuery location with a space', args: ['--data-source', 'bigquery', '--bigquery-project', 'acme-analytics', '--bigquery-location', 'eu west'], exit: 3, says: /--bigquery-location/},
  {command: 'init', name: 'a memory limit without a unit', args: ['--memory', '10'], exit: 3, says: /--memory/, hint: /512m/},
  {command: 'init', name: 'a memory limit below 64m', args: ['--memory', '32m'], exit: 3, says: /--memory/},
  {command: 'init', name: 'zero CPUs', args: ['--cpus', '0'], exit: 3, says: /--cpus/},
  {command: 'init', name: 'CPUs in words', args: ['--cpus', 'two'], exit: 3, says: /--cpus.*two/},
  {command: 'init', name: 'an image with a URL scheme', args: ['--image', 'https://ghcr.io/keboola/agnes-the-ai-analyst'], exit: 3, says: /scheme/, hint: /ghcr\.io\/keboola\/agnes-the-ai-analyst/},
  {command: 'init', name: 'an image in capitals', args: ['--image', 'ghcr.io/Keboola/Agnes'], exit: 3, says: /--image/},
  {command: 'init', name: 'an image that looks like a flag', args: ['--image=--foo'], exit: 3, says: /--image.*"-/},
  {command: 'init', name: 'the admin password as a flag value (--flag=value)', args: [`--admin-password=${ADMIN_PASSWORD}`], exit: 2, says: /--admin-password/, hint: SECRET_HINT_PASSWORD, secrets: [ADMIN_PASSWORD]},
  {command: 'init', name: 'the admin password as a flag value (--flag value)', args: ['--admin-password', ADMIN_PASSWORD], exit: 2, says: /--admin-password/, hint: SECRET_HINT_PASSWORD, secrets: [ADMIN_PASSWORD]},
  {command: 'init', name: 'the Keboola token as a flag value', args: [...KEBOOLA_URL, `--keboola-token=${KEBOOLA_TOKEN}`], exit: 2, says: /--keboola-token/, hint: SECRET_HINT_KEBOOLA, secrets: [KEBOOLA_TOKEN]},
  {command: 'init', name: '--dir is a file', args: INIT_OK, dir: (s) => outsideFile(s, 'a-file', 'x\n'), exit: 3, says: /a-file/},
  {command: 'init', name: '--dir lies under a file', args: INIT_OK, dir: (s) => join(outsideFile(s, 'a-file', 'x\n'), 'agnes'), exit: 3, says: /a-file/},
  {command: 'init', name: 'config/ is a file', args: [], setup: (s) => (rmSync(inInstance(s, 'config'), {recursive: true}), write(inInstance(s, 'config'), 'not a directory\n')), exit: 3, says: /config/},
  {command: 'init', name: '.env is a directory', args: [], setup: (s) => (rmSync(inInstance(s, '.env')), mkdirSync(inInstance(s, '.env'))), exit: 3, says: /\.env/},
  {command: 'init', name: 'a hand-broken .env line', args: [], setup: (s) => appendFileSync(inInstance(s, '.env'), 'THIS LINE IS BROKEN\n'), exit: 3, says: /\.env.*line \d+/, hint: /KEY=value/},
  {command: 'init', name: 'an unterminated quote in .env', args: [], setup: (s) => appendFileSync(inInstance(s, '.env'), "BRAND='unterminated\n"), exit: 3, says: /\.env.*BRAND/},
  {command: 'init', name: 'a hand-edited docker-compose.yml', args: [], setup: (s) => appendFileSync(inInstance(s, 'docker-compose.yml'), '# my own edit\n'), exit: 3, says: /docker-compose\.yml/, hint: /--force/},
  {command: 'init', name: '.env is a symlink', args: [], setup: (s) => replaceWithSymlink(s, '.env'), exit: 3, says: /\.env/},
  {command: 'init', name: '.agnes is a symlink', args: [], setup: (s) => replaceWithSymlink(s, '.agnes'), exit: 3, says: /\.agnes/},
  {command: 'init', name: 'config/ is a symlink', args: [], setup: (s) => replaceWithSymlink(s, 'config'), exit: 3, says: /config/},
  {command: 'init', name: 'docker-compose.override.yml is a symlink', args: [], setup: (s) => replaceWithSymlink(s, 'docker-compose.override.yml'), exit: 3, says: /docker-compose\.override\.yml/},
  {command: 'init', name: 'docker-compose.yml is a symlink', args: ['--force'], setup: (s) => replaceWithSymlink(s, 'docker-compose.yml'), exit: 3, says: /docker-compose\.yml/},

  // ---- up
  {command: 'up', name: 'a health timeout of 0', args: ['--health-timeout', '0'], exit: 2, says: /--health-timeout/, hint: USAGE_HINT},
  {command: 'up', name: 'a health timeout above a day', args: ['--health-timeout', '100000'], exit: 2, says: /--health-timeout/, hint: USAGE_HINT},
  {command: 'up', name: 'a health timeout in words', args: ['--health-timeout', 'abc'], exit: 2, says: /--health-timeout/},
  {command: 'up', name: 'no instance in --dir', args: [], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  {command: 'up', name: 'a hand-broken .env line', args: [], setup: (s) => appendFileSync(inInstance(s, '.env'), 'oops no equals sign\n'), exit: 3, says: /\.env.*line \d+/},
  {command: 'up', name: 'a port in .env that is no port', args: [], setup: (s) => setEnvLine(s, 'AGNES_HTTP_PORT', 'abc'), exit: 3, says: /AGNES_HTTP_PORT/},
  {command: 'up', name: 'invalid YAML in the override file', args: [], setup: (s) => write(inInstance(s, 'docker-compose.override.yml'), 'services: [unclosed\n'), exit: 3, says: /compose|override/, hint: /docker-compose\.override\.yml/},

  {
    command: 'up',
    name: 'a hand-broken docker-compose.yml',
    args: [],
    setup: (s) => appendFileSync(inInstance(s, 'docker-compose.yml'), '  this: [is not yaml\n'),
    exit: 3,
    says: /compose|docker-compose\.yml/,
    hint: /agnes init --force/,
  },
  {command: 'up', name: 'no Docker engine at DOCKER_HOST', args: [], env: (s) => ({DOCKER_HOST: `unix://${join(s.root, 'no-docker.sock')}`}), exit: 9, says: /Docker|engine/i, hint: /DOCKER_HOST|docker/i},
  {command: 'up', name: 'nothing listening at a tcp:// DOCKER_HOST', args: [], env: {DOCKER_HOST: 'tcp://127.0.0.1:1'}, exit: 9, says: /Docker|engine/i, hint: /DOCKER_HOST|docker/i},

  // ---- status
  {command: 'status', name: 'a flag it does not have', args: ['--verbose'], exit: 2, says: /--verbose/, hint: USAGE_HINT},
  {command: 'status', name: 'no instance in --dir', args: [], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  {command: 'status', name: '--dir is a file', args: [], dir: (s) => outsideFile(s, 'a-file', 'x\n'), exit: 3, says: /a-file/},
  {command: 'status', name: 'a torn .agnes/state.json', args: [], setup: (s) => write(inInstance(s, '.agnes', 'state.json'), '{"stateVersion": 1, "proj'), exit: 3, says: /state\.json/},
  {command: 'status', name: '.env missing', args: [], setup: (s) => rmSync(inInstance(s, '.env')), exit: 3, says: /\.env/, hint: /agnes init/},
  {command: 'status', name: '.env is a directory', args: [], setup: (s) => (rmSync(inInstance(s, '.env')), mkdirSync(inInstance(s, '.env'))), exit: 3, says: /\.env/},
  {command: 'status', name: '.env is a symlink', args: [], setup: (s) => replaceWithSymlink(s, '.env'), exit: 3, says: /\.env/},
  {command: 'status', name: '.agnes is a symlink', args: [], setup: (s) => replaceWithSymlink(s, '.agnes'), exit: 3, says: /\.agnes/},
  {command: 'status', name: 'no Docker engine at DOCKER_HOST', args: [], env: (s) => ({DOCKER_HOST: `unix://${join(s.root, 'no-docker.sock')}`}), exit: 0, succeeds: 'notice', says: /not reachable|unreachable/i},
  {command: 'status', name: 'a torn journal.json', args: [], setup: (s) => write(inInstance(s, '.agnes', 'journal.json'), '{"action": "upgrade", "phase": "stopp'), exit: 0, succeeds: 'notice', says: /journal\.json/},
  {
    command: 'status',
    name: 'a duplicated .env key (Compose uses the last one)',
    args: [],
    setup: (s) => appendFileSync(inInstance(s, '.env'), '# again\nAGNES_HTTP_PORT=18999\n'),
    exit: 0,
    succeeds: 'warning',
    says: /AGNES_HTTP_PORT/,
  },

  // ---- history
  {command: 'history', name: 'a negative limit', args: ['--limit', '-1'], exit: 2, says: /--limit/, hint: USAGE_HINT},
  {command: 'history', name: 'a limit in words', args: ['--limit', 'all'], exit: 2, says: /--limit/},
  {command: 'history', name: '--dir is a file', args: [], dir: (s) => outsideFile(s, 'a-file', 'x\n'), exit: 3, says: /a-file/},
  {
    command: 'history',
    name: 'malformed history.jsonl lines',
    args: [],
    setup: (s) => write(inInstance(s, '.agnes', 'history.jsonl'), `${JSON.stringify(VALID_HISTORY[0])}\nnot json at all\n{"hello": "world"}\n[1, 2]\n${JSON.stringify(VALID_HISTORY[1])}\n`),
    exit: 0,
    succeeds: 'warning',
    says: /history\.jsonl/,
    check(result, _s, expect) {
      // Only the two real deployments, never the junk as one.
      if (result.json) expect(result.json.result.entries.map((entry: {outcome: string}) => entry.outcome)).toEqual(['upgraded', 'deployed'])
    },
  },
  {
    command: 'history',
    name: 'history.jsonl is a symlink',
    args: [],
    setup: (s) => (write(inInstance(s, '.agnes', 'history.jsonl'), `${JSON.stringify(VALID_HISTORY[0])}\n`), replaceWithSymlink(s, '.agnes/history.jsonl')),
    exit: 3,
    says: /history\.jsonl/,
  },

  // ---- upgrade
  {command: 'upgrade', name: 'a health timeout of 0', args: ['--health-timeout', '0'], exit: 2, says: /--health-timeout/, hint: USAGE_HINT},
  {command: 'upgrade', name: 'a health timeout above a day', args: ['--health-timeout', '100000'], exit: 2, says: /--health-timeout/, hint: USAGE_HINT},
  {command: 'upgrade', name: 'an unknown channel', args: ['--channel', 'beta'], exit: 2, says: /--channel/},
  {command: 'upgrade', name: 'a negative maximum deferral', args: ['--max-defer', '-5'], exit: 2, says: /--max-defer/},
  {command: 'upgrade', name: 'a smoke settle time above its maximum', args: ['--smoke-settle', '601'], exit: 2, says: /--smoke-settle/},
  {command: 'upgrade', name: 'the alert webhook as a flag value', args: ['--alert-webhook', WEBHOOK], exit: 2, says: /--alert-webhook/, hint: /AGNES_ALERT_WEBHOOK|--alert-webhook-file/, secrets: [WEBHOOK]},
  {
    command: 'upgrade',
    name: 'an alert webhook over plain HTTP',
    args: [],
    env: {AGNES_ALERT_WEBHOOK: 'http://hooks.example.com/services/T0/B0/plainHttpHookSecret'},
    exit: 3,
    says: /https/,
    secrets: ['plainHttpHookSecret'],
  },
  {command: 'upgrade', name: 'an alert webhook that is no URL', args: [], env: {AGNES_ALERT_WEBHOOK: 'not a webhook url'}, exit: 3, says: /AGNES_ALERT_WEBHOOK|webhook/i},
  {command: 'upgrade', name: 'an alert webhook file that does not exist', args: (s) => ['--alert-webhook-file', join(s.outside, 'missing-hook')], exit: 3, says: /--alert-webhook-file|missing-hook/},
  {command: 'upgrade', name: 'no instance in --dir', args: [], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  {command: 'upgrade', name: 'a minimum age that is no duration', args: ['--min-age', 'two hours'], exit: 3, says: /--min-age "two hours"/, hint: /30m, 2h/},
  {command: 'upgrade', name: 'a window without a time zone', args: ['--window', 'Mon-Fri 02:00-05:00'], exit: 3, says: /time zone is missing/, hint: /Europe\/Prague/},
  {command: 'upgrade', name: 'a window in an unknown time zone', args: ['--window', 'Mon-Fri 02:00-05:00 Mars/Olympus'], exit: 3, says: /Mars\/Olympus/, hint: /HH:MM-HH:MM/},
  {command: 'upgrade', name: 'a broken AGNES_UPGRADE_WINDOW in .env', args: [], setup: (s) => appendFileSync(inInstance(s, '.env'), 'AGNES_UPGRADE_WINDOW=weekends\n'), exit: 3, says: /weekends/, hint: /Europe\/Prague/},
  {command: 'release:retract', name: 'a channel instead of a version', args: ['stable'], exit: 3, says: /channel, not a version/, hint: /stable-2026\.04\.3/},
  {command: 'release:retract', name: 'no version', args: [], exit: 2, says: /version/, hint: USAGE_HINT},
  {command: 'release:retract', name: 'no instance and no --image', args: ['stable-2026.04.2'], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /--image/},
  {command: 'upgrade', name: 'a hand-broken .env line', args: [], setup: (s) => appendFileSync(inInstance(s, '.env'), '=no key\n'), exit: 3, says: /\.env.*line \d+/},

  // ---- pin
  {command: 'pin', name: 'a month 13 version', args: ['stable-2026.13.1'], exit: 3, says: /stable-2026\.13\.1/, hint: /stable-2026\.04\.3/},
  {command: 'pin', name: 'month 00', args: ['dev-2026.00.1'], exit: 3, says: /dev-2026\.00\.1/},
  {command: 'pin', name: 'the version "latest"', args: ['latest'], exit: 3, says: /latest/},
  {command: 'pin', name: 'a channel instead of a version', args: ['stable'], exit: 3, says: /channel/, hint: /--channel|stable-\d{4}/},
  {command: 'pin', name: 'a version that looks like a flag', args: ['--foo'], exit: 2, says: /--foo/, hint: USAGE_HINT},
  {command: 'pin', name: 'neither a version nor --channel', args: [], exit: 2, says: /version|--channel/, hint: /agnes pin/},
  {command: 'pin', name: 'both a version and --channel', args: ['stable-2026.04.3', '--channel', 'stable'], exit: 2, says: /either/},
  {command: 'pin', name: 'an unknown channel', args: ['--channel', 'nightly'], exit: 2, says: /--channel/},
  {command: 'pin', name: 'two versions', args: ['stable-2026.04.3', 'stable-2026.04.4'], exit: 2, says: /stable-2026\.04\.4|argument/},
  {command: 'pin', name: 'a health timeout of 0', args: ['stable-2026.04.3', '--health-timeout', '0'], exit: 2, says: /--health-timeout/},
  {command: 'pin', name: 'a hand-broken .env line', args: ['stable-2026.04.3'], setup: (s) => appendFileSync(inInstance(s, '.env'), 'KEY WITH SPACES=1\n'), exit: 3, says: /\.env.*line \d+/},

  // ---- rollback
  {command: 'rollback', name: 'the version "latest"', args: ['--to', 'latest'], exit: 3, says: /latest/, hint: /stable-\d{4}\.\d{2}\.\d|sha256:/},
  {command: 'rollback', name: 'nothing deployed yet', args: [], exit: 6, says: /no recorded deployment/, hint: /agnes up/},
  {command: 'rollback', name: 'no Docker engine at DOCKER_HOST', args: [], env: (s) => ({DOCKER_HOST: `unix://${join(s.root, 'no-docker.sock')}`}), exit: 9, says: /Docker|engine/i, hint: /DOCKER_HOST|docker/i},
  {command: 'rollback', name: 'a version without --to', args: ['stable-2026.04.1'], exit: 2, says: /stable-2026\.04\.1|argument/, hint: USAGE_HINT},
  {command: 'rollback', name: 'a health timeout in words', args: ['--health-timeout', 'soon'], exit: 2, says: /--health-timeout/},
  {command: 'rollback', name: 'no instance in --dir', args: [], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},

  // ---- configure (nothing answers on the instance's port: every case must be refused before a request)
  {command: 'configure', name: 'an invalid admin email', args: ['--admin-email', 'admin@', '--data-source', 'local'], env: {AGNES_ADMIN_PASSWORD: ADMIN_PASSWORD}, exit: 3, says: /--admin-email/, secrets: [ADMIN_PASSWORD]},
  {command: 'configure', name: 'an unknown data source', args: ['--data-source', 'mysql'], exit: 3, says: /--data-source.*mysql/},
  {command: 'configure', name: 'a Keboola URL with another scheme', args: ['--data-source', 'keboola', '--keboola-url', 'file:///etc/passwd'], exit: 3, says: /--keboola-url/},
  {command: 'configure', name: 'a BigQuery project name instead of its id', args: ['--data-source', 'bigquery', '--bigquery-project', 'My Project'], exit: 3, says: /--bigquery-project/, hint: /project id/},
  {command: 'configure', name: 'an allowed domain that is no domain', args: ['--data-source', 'local', '--allowed-domain', 'not a domain'], exit: 3, says: /--allowed-domain/},
  {command: 'configure', name: 'no Keboola token, non-interactively', args: ['--data-source', 'keboola', '--keboola-url', 'https://connection.keboola.com'], exit: 4, says: /--keboola-token-file/, hint: /AGNES_KEBOOLA_TOKEN/},
  {command: 'configure', name: '--wait without --sync', args: ['--data-source', 'local', '--wait'], exit: 3, says: /--sync|sync/},
  {command: 'configure', name: 'a passwordless admin with a generated password', args: ['--data-source', 'local', '--passwordless-admin', '--generate-password'], exit: 3, says: /--passwordless-admin/},
  {command: 'configure', name: 'an admin password that is too short', args: ['--data-source', 'local'], env: {AGNES_ADMIN_PASSWORD: 'tiny-pw'}, exit: 3, says: /at least 8 characters/, secrets: ['tiny-pw']},
  {
    command: 'configure',
    name: 'a password file with two lines',
    args: (s) => ['--data-source', 'local', '--boot-wait', '0', '--admin-password-file', outsideFile(s, 'password', `${LINE_ONE}\n${LINE_TWO}\n`)],
    exit: 3,
    says: /password/,
    secrets: [LINE_ONE, LINE_TWO],
  },
  {command: 'configure', name: 'a setup file that does not exist', args: (s) => ['--from-file', join(s.outside, 'setup.yaml')], exit: 3, says: /setup\.yaml/},
  {command: 'configure', name: 'a setup file with invalid YAML', args: (s) => ['--from-file', outsideFile(s, 'setup.yaml', 'data-source: [local\n')], exit: 3, says: /setup\.yaml/},
  {command: 'configure', name: 'the Keboola token as a flag value', args: ['--data-source', 'keboola', `--keboola-token=${KEBOOLA_TOKEN}`], exit: 2, says: /--keboola-token/, hint: SECRET_HINT_KEBOOLA, secrets: [KEBOOLA_TOKEN]},
  {command: 'configure', name: 'a wait timeout of 0', args: ['--data-source', 'local', '--sync', '--wait', '--wait-timeout', '0'], exit: 2, says: /--wait-timeout/},
  {
    command: 'configure',
    name: "another loopback port, with the instance's own token",
    args: (s) => ['--url', `http://127.0.0.1:${s.strangerPort}`, '--data-source', 'local', '--passwordless-admin'],
    stranger: {},
    exit: 3,
    says: /127\.0\.0\.1/,
    hint: /--token-file|AGNES_TOKEN/,
  },
  {
    command: 'configure',
    name: "another URL, with the Keboola token from the instance's .env",
    args: (s) => ['--url', `http://127.0.0.1:${s.strangerPort}`, '--token-file', outsideFile(s, 'api-token', `${API_TOKEN}\n`), '--data-source', 'keboola', '--passwordless-admin'],
    setup: (s) => appendFileSync(inInstance(s, '.env'), `KEBOOLA_STACK_URL=https://connection.keboola.com\nKEBOOLA_STORAGE_TOKEN=${ENV_KEBOOLA_TOKEN}\n`),
    stranger: {explicitToken: API_TOKEN},
    exit: 3,
    says: /keboola/i,
    hint: SECRET_HINT_KEBOOLA,
    secrets: [API_TOKEN, ENV_KEBOOLA_TOKEN],
  },

  // ---- register-table (validated before anything is sent)
  {command: 'register-table', name: 'a name that gives an invalid id', args: ['--name', 'Bad-Name!', '--source-type', 'local'], exit: 3, says: /bad-name!/, hint: /Nothing was sent/},
  {command: 'register-table', name: 'a name starting with a digit', args: ['--name', '1orders', '--source-type', 'local'], exit: 3, says: /1orders/},
  {command: 'register-table', name: 'an identifier with SQL in it', args: ['--name', 'orders', '--source-type', 'keboola', '--bucket', 'in.c-crm; DROP TABLE x', '--table', 'orders'], exit: 3, says: /bucket/},
  {command: 'register-table', name: 'a bucket that is no Keboola bucket', args: ['--name', 'orders', '--source-type', 'keboola', '--bucket', 'crm', '--table', 'orders'], exit: 3, says: /bucket.*crm/},
  {command: 'register-table', name: 'Keboola without bucket and table', args: ['--name', 'orders', '--source-type', 'keboola'], exit: 3, says: /--bucket/},
  {command: 'register-table', name: 'an unknown source type', args: ['--name', 'orders', '--source-type', 'nosql'], exit: 3, says: /nosql/},
  {command: 'register-table', name: 'an unknown query mode', args: ['--name', 'orders', '--source-type', 'local', '--query-mode', 'turbo'], exit: 3, says: /turbo/},
  {command: 'register-table', name: 'an unknown sync strategy', args: ['--name', 'orders', '--source-type', 'local', '--sync-strategy', 'sometimes'], exit: 3, says: /sometimes/},
  {command: 'register-table', name: 'a schedule of every 0 minutes', args: ['--name', 'orders', '--source-type', 'local', '--sync-schedule', 'every 0m'], exit: 3, says: /every 0m/},
  {command: 'register-table', name: 'a primary key with a space', args: ['--name', 'orders', '--source-type', 'local', '--primary-key', 'order id'], exit: 3, says: /order id/},
  {command: 'register-table', name: 'no name, non-interactively', args: [], exit: 4, says: /--name/, hint: /--name/},
  {command: 'register-table', name: 'a tables file that does not exist', args: (s) => ['--from-file', join(s.outside, 'tables.yaml')], exit: 3, says: /tables\.yaml/},
  {command: 'register-table', name: 'the API token as a flag value', args: ['--name', 'orders', `--token=${API_TOKEN}`], exit: 2, says: /--token/, hint: /AGNES_TOKEN|--token-file/, secrets: [API_TOKEN]},

  // ---- smoke
  {command: 'smoke', name: 'a negative table minimum', args: ['--min-tables', '-1'], exit: 2, says: /--min-tables/},
  {command: 'smoke', name: 'a settle time in words', args: ['--settle', 'long'], exit: 2, says: /--settle/},
  {command: 'smoke', name: 'a URL with another scheme', args: ['--url', 'ftp://agnes.example.com'], exit: 3, says: /--url/, hint: /https:\/\//},
  {command: 'smoke', name: 'a URL that is no URL', args: ['--url', 'agnes dot example'], exit: 3, says: /--url/},
  {command: 'smoke', name: 'no instance in --dir', args: [], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  {command: 'smoke', name: 'a remote instance without a token, non-interactively', args: ['--url', 'https://agnes.example.invalid'], dir: 'fresh', exit: 4, says: /--token-file/, hint: /AGNES_TOKEN/},
  {
    command: 'smoke',
    name: "another loopback port, with the instance's own token",
    args: (s) => ['--url', `http://127.0.0.1:${s.strangerPort}`, '--settle', '0', '--no-sync'],
    stranger: {},
    exit: 3,
    says: /127\.0\.0\.1/,
    hint: /--token-file|AGNES_TOKEN/,
  },
  {
    command: 'smoke',
    name: "localhost on another port, with the instance's own token",
    args: (s) => ['--url', `http://localhost:${s.strangerPort}`, '--settle', '0', '--no-sync'],
    stranger: {},
    exit: 3,
    says: /localhost/,
    hint: /--token-file|AGNES_TOKEN/,
  },
  {
    command: 'smoke',
    name: 'a token sent over plain HTTP to another host',
    args: ['--url', 'http://agnes.example.invalid', '--settle', '0', '--boot-wait', '0'],
    env: {AGNES_TOKEN: API_TOKEN},
    exit: 3,
    says: /plain HTTP|http:\/\//i,
    hint: /https/,
    secrets: [API_TOKEN],
  },
  {command: 'logs', name: 'a mistyped flag', args: ['--lines', '5'], exit: 2, says: /--lines/, hint: USAGE_HINT},
  {command: 'logs', name: 'a negative tail', args: ['--tail', '-3'], exit: 2, says: /--tail/, hint: USAGE_HINT},
  {command: 'logs', name: '--dir is a file', args: [], dir: (s) => outsideFile(s, 'a-file', 'x\n'), exit: 3, says: /a-file/},
  {command: 'logs', name: 'a missing instance', args: [], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  // Every schedule case writes under the sandbox (--root), never into this host's /etc.
  {command: 'schedule:install', name: 'an interval that does not divide an hour', args: (s) => ['--root', join(s.outside, 'sysroot'), '--every', '7m'], exit: 3, says: /7m/},
  {command: 'schedule:install', name: 'an interval in words', args: (s) => ['--root', join(s.outside, 'sysroot'), '--every', 'often'], exit: 3, says: /often/},
  {command: 'schedule:install', name: 'an unknown init system', args: (s) => ['--root', join(s.outside, 'sysroot'), '--init-system', 'upstart'], exit: 2, says: /--init-system/},
  {command: 'schedule:install', name: 'an unknown channel', args: (s) => ['--root', join(s.outside, 'sysroot'), '--channel', 'nightly'], exit: 2, says: /--channel/},
  {
    command: 'schedule:install',
    name: 'a webhook file others can read',
    setup: (s) => {
      mkdirSync(s.outside, {recursive: true})
      writeFileSync(join(s.outside, 'webhook'), 'https://hooks.example.com/T000/B000/schedule-secret\n', {mode: 0o644})
    },
    args: (s) => ['--root', join(s.outside, 'sysroot'), '--init-system', 'cron', '--alert-webhook-file', join(s.outside, 'webhook')],
    secrets: ['https://hooks.example.com/T000/B000/schedule-secret'],
    exit: 3,
    says: /webhook/,
    hint: /0600|chmod/,
  },
  {command: 'schedule:install', name: 'a missing instance', args: (s) => ['--root', join(s.outside, 'sysroot')], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  {command: 'schedule:remove', name: 'an unknown init system', args: (s) => ['--root', join(s.outside, 'sysroot'), '--init-system', 'launchd'], exit: 2, says: /--init-system/},
  {command: 'schedule:remove', name: '--dir is a file', args: (s) => ['--root', join(s.outside, 'sysroot')], dir: (s) => outsideFile(s, 'a-file', 'x\n'), exit: 3, says: /a-file/},
  {command: 'schedule:status', name: 'a missing instance', args: (s) => ['--root', join(s.outside, 'sysroot')], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  {command: 'doctor', name: 'a mistyped flag', args: ['--verbose'], exit: 2, says: /--verbose/, hint: USAGE_HINT},

  // ---- backup, backup list, restore (the template instance has nothing deployed)
  {command: 'backup', name: 'nothing deployed yet', args: [], exit: 6, says: /no recorded deployment/, hint: /agnes up/},
  {command: 'backup', name: 'a health timeout in words', args: ['--health-timeout', 'soon'], exit: 2, says: /--health-timeout/, hint: USAGE_HINT},
  {command: 'backup', name: 'no instance in --dir', args: [], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  {command: 'backup:list', name: 'a mistyped flag', args: ['--all'], exit: 2, says: /--all/, hint: USAGE_HINT},
  {command: 'backup:list', name: 'no instance in --dir', args: [], dir: 'fresh', exit: 3, says: /not an agnes instance/, hint: /agnes init/},
  {
    command: 'backup:list',
    name: 'the backups directory is a symlink',
    args: [],
    setup: (s) => (mkdirSync(inInstance(s, '.agnes', 'backups'), {recursive: true}), replaceWithSymlink(s, '.agnes/backups')),
    exit: 3,
    says: /backups/,
  },
  {command: 'restore', name: 'no backup id', args: ['--yes'], exit: 2, says: /\bid\b/, hint: USAGE_HINT},
  {command: 'restore', name: 'a path instead of a backup id', args: ['../../etc/passwd', '--yes'], exit: 3, says: /not a backup id/, hint: /agnes backup list/},
  {command: 'restore', name: 'an unknown backup id', args: ['2026-01-01T00-00-00.000Z-manual', '--yes'], exit: 3, says: /no backup 2026-01-01T00-00-00\.000Z-manual/, hint: /agnes backup list/},
  {command: 'restore', name: 'no --yes without a terminal', args: ['2026-01-01T00-00-00.000Z-manual'], exit: 4, says: /--yes/, hint: /--yes/},
  {
    command: 'restore',
    name: 'a backup that is not a tar archive',
    args: ['2026-01-01T00-00-00.000Z-manual', '--yes'],
    setup: (s) => (mkdirSync(inInstance(s, '.agnes', 'backups'), {recursive: true}), write(inInstance(s, '.agnes', 'backups', '2026-01-01T00-00-00.000Z-manual.tar'), 'not a tar archive\n')),
    exit: 3,
    says: /not a usable state backup/,
    hint: /agnes backup list/,
  },
  {
    command: 'restore',
    name: 'a backup that is a symlink out of the instance',
    args: ['2026-01-01T00-00-00.000Z-manual', '--yes'],
    setup: (s) => (mkdirSync(inInstance(s, '.agnes', 'backups'), {recursive: true}), symlinkSync(outsideFile(s, 'foreign.tar', 'x'), inInstance(s, '.agnes', 'backups', '2026-01-01T00-00-00.000Z-manual.tar'))),
    exit: 3,
    says: /symbolic link/,
    hint: /link/,
  },
  // ---- fleet and reject (the inventory is validated whole before any host is contacted)
  {command: 'fleet:status', name: 'no inventory', args: [], dir: 'none', exit: 2, says: /inventory/},
  {command: 'fleet:status', name: 'an inventory that does not exist', args: (s) => ['--inventory', join(s.outside, 'missing.yaml')], dir: 'none', exit: 3, says: /missing\.yaml/, hint: /--inventory/},
  {
    command: 'fleet:status',
    name: 'an inventory target that ssh would read as an option',
    args: (s) => ['--inventory', join(s.outside, 'fleet.yaml')],
    dir: 'none',
    setup: (s) => (mkdirSync(s.outside, {recursive: true}), write(join(s.outside, 'fleet.yaml'), 'instances:\n  - name: a\n    target: "-oProxyCommand=touch /tmp/agnes-pwned"\n    dir: /opt/agnes\n')),
    exit: 3,
    says: /fleet\.yaml:3: instances\.0\.target/,
  },
  {
    command: 'fleet:upgrade',
    name: 'an inventory that is not YAML',
    args: (s) => ['--inventory', join(s.outside, 'fleet.yaml'), '--channel', 'stable'],
    dir: 'none',
    setup: (s) => (mkdirSync(s.outside, {recursive: true}), write(join(s.outside, 'fleet.yaml'), 'instances:\n  - {name: a, target: local\n')),
    exit: 3,
    says: /fleet\.yaml:\d+: not valid YAML/,
  },
  {
    command: 'fleet:upgrade',
    name: 'a relative instance directory and an unknown rollout key',
    args: (s) => ['--inventory', join(s.outside, 'fleet.yaml'), '--channel', 'stable'],
    dir: 'none',
    setup: (s) => (mkdirSync(s.outside, {recursive: true}), write(join(s.outside, 'fleet.yaml'), 'rollout:\n  speed: fast\ninstances:\n  - {name: a, target: local, dir: opt/agnes}\n')),
    exit: 3,
    says: /fleet\.yaml:2: rollout\.speed: unknown key[\s\S]*fleet\.yaml:4: instances\.0\.dir/,
  },
  {command: 'fleet:upgrade', name: 'an unknown channel', args: ['--inventory', 'fleet.yaml', '--channel', 'beta'], dir: 'none', exit: 2, says: /--channel/},
  {command: 'fleet:host-status', name: 'no directory', args: [], dir: 'none', exit: 2, says: /dir/, hint: USAGE_HINT},
  {command: 'fleet:host-status', name: 'a flag it does not have', args: (s) => [s.instance, '--verbose'], dir: 'none', exit: 2, says: /--verbose/, hint: USAGE_HINT},
  {
    command: 'fleet:host-status',
    name: 'a directory that does not exist, and an instance whose .env is a symlink: an entry each',
    args: (s) => [s.fresh, s.instance],
    dir: 'none',
    setup: (s) => replaceWithSymlink(s, '.env'),
    exit: 0,
    succeeds: 'notice',
    says: /not an agnes instance[\s\S]*\.env/,
    check: (result, s, expect) => {
      if (!result.json) return
      expect.soft(result.json.result.instances.map((entry: {dir: string; ok: boolean; error?: {exitCode: number}}) => [entry.dir, entry.ok, entry.error?.exitCode])).toEqual([
        [s.fresh, false, 3],
        [s.instance, false, 3],
      ])
    },
  },
  {command: 'reject', name: 'a tag instead of a digest', args: ['stable-2026.05.1'], exit: 3, says: /not an image digest/, hint: /sha256:/},
  {command: 'reject', name: 'no digest', args: [], exit: 2, says: /digest/},
  {command: 'reject', name: 'a directory that is not an instance', args: [`sha256:${'c'.repeat(64)}`], dir: 'fresh', exit: 3, says: /not an agnes instance/},

  // ---- help: an unknown subject is a usage error whose words are not echoed (a pasted token stays off screen)
  {command: 'help', name: 'an unknown command', args: ['nosuch-command-x9'], exit: 2, says: /no such command or topic/, hint: /agnes --help/, secrets: ['nosuch-command-x9']},
  {command: 'help', name: 'a mistyped flag', args: ['--nested'], exit: 2, says: /--nested/, hint: USAGE_HINT},
]

/** The secrets of the template instance: every copy has them, so no output may contain them. */
let instanceSecrets: string[] = []
let template: TestInstance | undefined
const runRoot = join(repoRoot, '.e2e-tmp', 'bad-input')

/** The environment of a run: nothing of the host's own AGNES_* settings leaks into a case. */
function caseEnv(c: BadInputCase, s: Sandbox): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {}
  for (const key of Object.keys(process.env)) if (key.startsWith('AGNES_')) env[key] = undefined
  return {...env, ...(typeof c.env === 'function' ? c.env(s) : c.env)}
}

function makeSandbox(index: number, mode: string): Sandbox {
  const root = join(runRoot, `${String(index).padStart(3, '0')}-${mode}`)
  rmSync(root, {force: true, recursive: true})
  mkdirSync(root, {recursive: true})
  const instance = join(root, 'agnes')
  cpSync((template as TestInstance).dir, instance, {preserveTimestamps: true, recursive: true, verbatimSymlinks: true})
  return {fresh: join(root, 'new'), instance, outside: join(root, 'outside'), root, strangerPort: 0}
}

function dirArgs(c: BadInputCase, s: Sandbox): string[] {
  const dir = c.dir ?? 'instance'
  if (dir === 'none') return []
  if (dir === 'instance') return ['--dir', s.instance]
  if (dir === 'fresh') return ['--dir', s.fresh]
  return ['--dir', dir(s)]
}

interface CaseRun {
  args: string[]
  result: CliResult
  changes: string[]
  /** What the recording stranger received that it must not have, when the case has one. */
  strangerProblems?: string[]
  sandbox: Sandbox
}

/** Runs one case once, on a sandbox of its own, and records everything the assertions look at. */
async function runCase(c: BadInputCase, index: number, json: boolean): Promise<CaseRun> {
  const s = makeSandbox(index, json ? 'json' : 'plain')
  const stranger = c.stranger ? await startRecordingServer() : undefined
  if (stranger) s.strangerPort = stranger.port
  c.setup?.(s)
  const args = [...(c.command === 'unknown' ? [] : c.command.split(':')), ...(typeof c.args === 'function' ? c.args(s) : c.args), ...dirArgs(c, s), ...(json ? ['--json'] : [])]
  const before = snapshotTree(s.root)
  let result: CliResult
  try {
    result = await runAgnes(args, {cwd: s.root, env: caseEnv(c, s), timeoutMs: 90_000})
  } finally {
    await stranger?.close()
  }

  const changes = diffSnapshots(before, snapshotTree(s.root))
  const strangerProblems = stranger?.requests.flatMap((request) => {
    const allowed = c.stranger?.explicitToken
    const text = JSON.stringify(request.headers) + request.body
    const found = [...instanceSecrets, ENV_KEBOOLA_TOKEN].some((secret) => text.includes(secret)) ? [`${request.method} ${request.url} carried a secret of the instance`] : []
    const authorization = request.headers.authorization
    if (authorization !== undefined && (allowed === undefined || !authorization.includes(allowed))) found.push(`${request.method} ${request.url} carried an Authorization header`)
    return found
  })
  return {args, changes, result, sandbox: s, strangerProblems}
}

function assertCase(c: BadInputCase, json: boolean, run: CaseRun, expect: typeof import('vitest').expect): void {
  const {args, result} = run
  const shown = `$ agnes ${args.join(' ')}\n→ exit ${result.exitCode}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`
  const output = result.stdout + result.stderr

  expect.soft(result.exitCode, `exit code\n${shown}`).toBe(c.exit)
  if (json) {
    expect.soft(result.json, `stdout must be exactly one JSON document and nothing else\n${shown}`).toBeTypeOf('object')
    const doc = result.json ?? {}
    if (c.succeeds) {
      expect.soft(doc.ok, shown).toBe(true)
      const where = c.succeeds === 'warning' ? JSON.stringify(doc.warnings ?? []) : JSON.stringify(doc)
      expect.soft(where, `the JSON ${c.succeeds === 'warning' ? 'warnings' : 'document'} must say what was wrong\n${shown}`).toMatch(c.says)
    } else {
      expect.soft(doc.ok, shown).toBe(false)
      const error = doc.error ?? {}
      expect.soft(error.code, `error.code\n${shown}`).toMatch(/^E_[A-Z0-9_]+$/)
      expect.soft(error.message, `error.message must say what was wrong\n${shown}`).toMatch(c.says)
      expect.soft(typeof error.hint === 'string' && error.hint.trim() !== '', `error.hint must say what to do\n${shown}`).toBe(true)
      if (c.hint) expect.soft(error.hint, `error.hint\n${shown}`).toMatch(c.hint)
      expect.soft(error.exitCode, `error.exitCode must equal the exit code\n${shown}`).toBe(result.exitCode)
    }
  } else if (c.succeeds) {
    if (c.succeeds === 'warning') expect.soft(result.stderr, `a warning on stderr\n${shown}`).toMatch(/Warning/)
    expect.soft(output, `the output must say what was wrong\n${shown}`).toMatch(c.says)
  } else {
    expect.soft(result.stdout, `a failed command prints no result on stdout\n${shown}`).toBe('')
    expect.soft(result.stderr, `stderr must say what was wrong\n${shown}`).toMatch(c.says)
    expect.soft(result.stderr, `stderr must say what to do (a Hint: line)\n${shown}`).toMatch(/^Hint: \S/m)
    if (c.hint) expect.soft(result.stderr, `the hint\n${shown}`).toMatch(c.hint)
  }

  // Only labels reach the report, never the secret values.
  const leaked = [...instanceSecrets.map((secret, i) => [`instance secret #${i + 1}`, secret]), ...(c.secrets ?? []).map((secret, i) => [`case secret #${i + 1}`, secret])]
    .filter(([, secret]) => output.includes(secret))
    .map(([label]) => label)
  expect.soft(leaked.join(', '), `secrets in the output of: agnes ${args.join(' ')}`).toBe('')
  expect.soft(run.changes.join('\n'), `the sandbox changed\n${shown}`).toBe('')
  if (run.strangerProblems) expect.soft(run.strangerProblems.join('\n'), `what the stranger on 127.0.0.1:${run.sandbox.strangerPort} received`).toBe('')
  c.check?.(result, run.sandbox, expect)
}

/** How many runs go at once: each is a CLI process that mostly waits (engine, compose, timeouts). */
const PARALLEL_RUNS = Number(process.env.AGNES_E2E_BAD_INPUT_PARALLEL ?? 8)
const runs = new Map<string, Promise<CaseRun>>()
const runKey = (index: number, json: boolean) => `${index}-${json ? 'json' : 'plain'}`

/** Starts every run through a pool of PARALLEL_RUNS; each test then awaits its own. */
function startAllRuns(): void {
  const queue = CASES.flatMap((c, index) => [false, true].map((json) => ({c, index, json})))
  const waiting = new Map<string, {resolve: (run: CaseRun) => void; reject: (error: unknown) => void}>()
  for (const {index, json} of queue) {
    runs.set(runKey(index, json), new Promise((resolve, reject) => waiting.set(runKey(index, json), {reject, resolve})))
  }

  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const settle = waiting.get(runKey(job.index, job.json)) as {resolve: (run: CaseRun) => void; reject: (error: unknown) => void}
      await runCase(job.c, job.index, job.json).then(settle.resolve, settle.reject)
    }
  }

  for (let i = 0; i < PARALLEL_RUNS; i++) void worker()
}

describe.concurrent('bad input is refused clearly and changes nothing', () => {
  beforeAll(async () => {
    rmSync(runRoot, {force: true, recursive: true})
    template = await newInstance('bad-input-template', {repository: REPOSITORY})
    const env = readEnvFile(join(template.dir, '.env'))
    instanceSecrets = ['JWT_SECRET_KEY', 'SESSION_SECRET', 'SCHEDULER_API_TOKEN', 'AGNES_VAULT_KEY'].map((key) => env[key])
    expect(instanceSecrets.every((secret) => secret && secret.length >= 32)).toBe(true)
    startAllRuns()
  })

  afterAll(async () => {
    const settled = await Promise.allSettled(runs.values())
    // The suite-wide secret scan (secrets-scan.test.ts) looks for the given secrets too, except those a case
    // typed on the command line on purpose: the transcript records each command line as it was given.
    const commandLines = settled.map((run) => (run.status === 'fulfilled' ? run.value.args.join(' ') : '')).join('\n')
    const given = CASES.flatMap((c, i) => (c.secrets ?? []).filter((secret) => !commandLines.includes(secret)).map((secret) => `bad-input case ${i} secret\t${secret}\n`))
    mkdirSync(join(repoRoot, '.e2e-tmp'), {recursive: true})
    appendFileSync(secretsLedger, given.join(''))
    destroyInstance(template)
    if (process.env.AGNES_E2E_KEEP !== '1') rmSync(runRoot, {force: true, recursive: true})
  })

  for (const [index, c] of CASES.entries()) {
    for (const json of [false, true]) {
      it(`${c.command}: ${c.name} → exit ${c.exit}${json ? ' (--json)' : ''}`, async ({expect}) => {
        assertCase(c, json, await (runs.get(runKey(index, json)) as Promise<CaseRun>), expect)
      })
    }
  }
})

describe('the bad-input table', () => {
  it('has at least 60 cases and covers every command the CLI has, and unknown commands', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60)
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, unknown>}
    const covered = new Set(CASES.map((c) => c.command))
    const missing = [...Object.keys(manifest.commands), 'unknown'].filter((command) => !covered.has(command as CommandName))
    expect(missing, 'commands without a bad-input case').toEqual([])
  })

  it('names every case once', () => {
    const names = CASES.map((c) => `${c.command}: ${c.name}`)
    expect(names.filter((name, i) => names.indexOf(name) !== i)).toEqual([])
  })
})
