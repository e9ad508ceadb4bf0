import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {InterruptedError, InvalidInputError} from '../lib/errors.js'
import {InitSettings, applyInit, planInit, readExisting, withInitLock} from '../lib/init/run.js'
import {resolveInitSettings} from '../lib/init/settings.js'
import {decideProject, engineComposeResources} from '../lib/instance/project.js'
import {readSecret} from '../lib/secrets/input.js'

interface InitResult {
  dir: string
  dryRun: boolean
  fresh: boolean
  files: Array<{path: string; action: string; diff?: string; note?: string}>
  generatedSecrets: string[]
  /** The Compose project the instance runs as (also COMPOSE_PROJECT_NAME in .env). */
  project: string
  settings: InitSettings
  next: string
}

export default class Init extends AgnesCommand<typeof Init> {
  static description = `Write (or update) an Agnes instance directory.

Creates docker-compose.yml (managed), docker-compose.override.yml (yours, created once), .env (0600, with
generated secrets), config/instance.yaml, a Caddyfile when TLS is on, and .agnes/ state. Re-running keeps
every secret, every .env key and comment of yours and the override file, and shows a diff of what changes
(values masked, except agnes's own harmless settings). The Compose project name is chosen once, unique on
the Docker engine (the directory name, or it plus a hash of the path when another directory uses it).
Secrets you give (Keboola token, admin password) come from an environment variable, a file or stdin, never
from a flag value.`

  static examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init --non-interactive --dir /opt/agnes --admin-email admin@example.com --data-source local',
    'AGNES_KEBOOLA_TOKEN=… <%= config.bin %> init --non-interactive --admin-email admin@example.com --data-source keboola --keboola-url https://connection.keboola.com',
    '<%= config.bin %> init --pin stable-2026.04.3 --tls acme --domain agnes.example.com --acme-email ops@example.com --admin-email admin@example.com',
    '<%= config.bin %> init --dry-run --http-port 8080',
  ]

  static flags = {
    image: Flags.string({description: 'Image repository (default ghcr.io/keboola/agnes-the-ai-analyst; a mirror or local registry works).', env: 'AGNES_IMAGE', helpGroup: 'VERSION'}),
    channel: Flags.string({description: 'Release channel to follow: stable or dev (default stable).', env: 'AGNES_CHANNEL', helpGroup: 'VERSION', options: ['stable', 'dev']}),
    pin: Flags.string({description: 'Pin an exact version instead of following a channel, e.g. stable-2026.04.3.', env: 'AGNES_PIN', helpGroup: 'VERSION'}),
    'http-port': Flags.string({description: 'Host port of the app (default 8000).', env: 'AGNES_HTTP_PORT', helpGroup: 'NETWORK'}),
    tls: Flags.string({description: 'TLS mode: none, acme, internal or files (default none).', env: 'AGNES_TLS', helpGroup: 'NETWORK'}),
    domain: Flags.string({description: 'Public domain name (required with TLS).', env: 'AGNES_DOMAIN', helpGroup: 'NETWORK'}),
    'acme-email': Flags.string({description: "Email for Let's Encrypt (with --tls acme).", env: 'AGNES_ACME_EMAIL', helpGroup: 'NETWORK'}),
    'tls-cert-dir': Flags.string({description: 'Directory with fullchain.pem and privkey.pem (with --tls files).', env: 'AGNES_TLS_CERT_DIR', helpGroup: 'NETWORK'}),
    'admin-email': Flags.string({description: 'Email of the first administrator (required).', env: 'AGNES_ADMIN_EMAIL', helpGroup: 'SETUP'}),
    'admin-password-file': Flags.string({description: 'Read the admin password from this file (or set AGNES_ADMIN_PASSWORD). Optional: agnes configure can ask later.', helpGroup: 'SETUP'}),
    'admin-password-stdin': Flags.boolean({description: 'Read the admin password from stdin.', helpGroup: 'SETUP'}),
    'data-source': Flags.string({description: 'Data source: keboola, bigquery or local (default local).', env: 'AGNES_DATA_SOURCE', helpGroup: 'SETUP'}),
    'keboola-url': Flags.string({description: 'Keboola stack URL (with --data-source keboola).', env: 'AGNES_KEBOOLA_URL', helpGroup: 'SETUP'}),
    'keboola-token-file': Flags.string({description: 'Read the Keboola Storage token from this file (or set AGNES_KEBOOLA_TOKEN).', helpGroup: 'SETUP'}),
    'keboola-token-stdin': Flags.boolean({description: 'Read the Keboola Storage token from stdin.', helpGroup: 'SETUP'}),
    'bigquery-project': Flags.string({description: 'GCP project id (with --data-source bigquery).', env: 'AGNES_BIGQUERY_PROJECT', helpGroup: 'SETUP'}),
    'bigquery-location': Flags.string({description: 'BigQuery location (default us).', env: 'AGNES_BIGQUERY_LOCATION', helpGroup: 'SETUP'}),
    memory: Flags.string({description: 'Memory limit of the app container (default 4g).', env: 'AGNES_MEMORY', helpGroup: 'RESOURCES'}),
    cpus: Flags.string({description: 'CPU limit of the app container (default 2.0).', env: 'AGNES_CPUS', helpGroup: 'RESOURCES'}),
    'dry-run': Flags.boolean({description: 'Print the plan and the diff; write nothing.'}),
    force: Flags.boolean({description: 'Replace managed files (docker-compose.yml, Caddyfile) even if they were edited by hand.'}),
    project: Flags.string({description: 'Compose project name for a new instance, or for a copied directory whose project belongs to another one (default: chosen once, unique on the engine).', env: 'AGNES_PROJECT'}),
  }

  protected async execute(): Promise<InitResult> {
    const {flags} = this
    if (flags['admin-password-stdin'] && flags['keboola-token-stdin']) {
      throw new InvalidInputError('--admin-password-stdin and --keboola-token-stdin cannot both read stdin', {hint: 'Give one of them through a file or an environment variable.'})
    }

    // A dry run writes nothing, not even the lock.
    return flags['dry-run'] ? this.initialise() : withInitLock(this.instanceDir, () => this.initialise())
  }

  private async initialise(): Promise<InitResult> {
    const {flags} = this
    const existing = await readExisting(this.instanceDir)
    const {project, warnings: projectWarnings} = await decideProject({
      current: existing.state?.project,
      dir: existing.paths.dir,
      fromEnv: existing.env?.get('COMPOSE_PROJECT_NAME'),
      listResources: engineComposeResources,
      requested: flags.project,
    })
    for (const warning of projectWarnings) this.reporter.warn(warning)
    const settings = await resolveInitSettings(
      {
        acmeEmail: flags['acme-email'],
        adminEmail: flags['admin-email'],
        bigqueryLocation: flags['bigquery-location'],
        bigqueryProject: flags['bigquery-project'],
        channel: flags.channel,
        cpus: flags.cpus,
        dataSource: flags['data-source'],
        domain: flags.domain,
        httpPort: flags['http-port'],
        image: flags.image,
        keboolaUrl: flags['keboola-url'],
        memory: flags.memory,
        pin: flags.pin,
        tls: flags.tls,
        tlsCertDir: flags['tls-cert-dir'],
      },
      existing,
      this.prompter,
    )

    const hasKeboolaToken = Boolean(existing.env?.get('KEBOOLA_STORAGE_TOKEN'))
    const keboolaToken =
      settings.dataSource === 'keboola'
        ? await readSecret(
            {envVar: 'AGNES_KEBOOLA_TOKEN', file: flags['keboola-token-file'], fileFlag: '--keboola-token-file', fromStdin: flags['keboola-token-stdin'], label: 'Keboola Storage token', stdinFlag: '--keboola-token-stdin'},
            {prompter: this.prompter, promptMessage: 'Keboola Storage token (hidden)' + (hasKeboolaToken ? ', empty keeps the current one' : ''), required: !hasKeboolaToken},
          )
        : undefined
    const adminPassword = await readSecret(
      {envVar: 'AGNES_ADMIN_PASSWORD', file: flags['admin-password-file'], fileFlag: '--admin-password-file', fromStdin: flags['admin-password-stdin'], label: 'admin password', stdinFlag: '--admin-password-stdin'},
      {prompter: existing.state ? undefined : this.prompter, promptMessage: 'Admin password (hidden; empty: set it later with agnes configure)', required: false},
    )
    if (adminPassword !== undefined && adminPassword.length < 8) {
      throw new InvalidInputError('the admin password must have at least 8 characters', {hint: 'Choose a longer password (at least 8 characters), or leave it out and set it later with `agnes configure`.'})
    }

    const plan = await planInit(existing, settings, {adminPassword, keboolaToken}, {force: flags.force, project})
    for (const warning of plan.warnings) this.reporter.warn(warning)

    const changes = plan.files.filter((file) => file.action === 'create' || file.action === 'update')
    if (this.prompter) this.showSummary(settings, project)
    if (!plan.fresh || flags['dry-run'] || this.prompter) this.showPlan(plan.files)

    if (!flags['dry-run'] && changes.length > 0 && this.prompter && !flags.yes) {
      const go = await this.prompter.confirm({default: true, message: `Write ${changes.length} file(s) to ${plan.dir}?`})
      if (!go) throw new InterruptedError('Cancelled; nothing was written')
    }

    if (!flags['dry-run']) {
      const {validatePlannedCaddyConfig} = await import('../lib/docker/caddy-validate.js')
      await validatePlannedCaddyConfig(plan)
      await applyInit(plan)
    }

    const dirArg = plan.dir === process.cwd() ? '' : ` --dir ${plan.dir}`
    return {
      dir: plan.dir,
      dryRun: flags['dry-run'],
      files: plan.files.map(({action, diff, note, path}) => ({action, path, ...(diff ? {diff} : {}), ...(note ? {note} : {})})),
      fresh: plan.fresh,
      generatedSecrets: plan.generatedSecrets,
      next: `agnes up${dirArg}`,
      project: plan.state.project,
      settings,
    }
  }

  protected render(result: InitResult): void {
    const verb = result.dryRun ? 'Would write' : 'Wrote'
    const changed = result.files.filter((file) => file.action === 'create' || file.action === 'update')
    if (changed.length === 0) this.out(`Nothing to change in ${result.dir}.`)
    else this.out(`${verb} ${changed.map((file) => file.path).join(', ')} in ${result.dir}.`)
    if (result.generatedSecrets.length > 0) {
      this.out(`Generated ${result.generatedSecrets.join(', ')} into .env (mode 0600; never printed).`)
    }

    const version = result.settings.pin ? `pinned to ${result.settings.pin}` : `following the ${result.settings.channel} channel`
    this.out(`Image ${result.settings.repository}, ${version}; Compose project ${result.project}.`)
    if (!result.dryRun) this.out(`Next: ${this.paint('bold', result.next)}`)
  }

  private showSummary(settings: InitSettings, project: string): void {
    const lines: Array<[string, string | undefined]> = [
      ['Image', settings.repository],
      ['Version', settings.pin ? `pinned to ${settings.pin}` : `follow the ${settings.channel} channel`],
      ['HTTP port', String(settings.httpPort)],
      ['TLS', settings.tls === 'none' ? 'none' : `${settings.tls} for ${settings.domain}`],
      ['Admin', settings.adminEmail],
      ['Data source', settings.dataSource + (settings.keboolaUrl ? ` (${settings.keboolaUrl})` : settings.bigqueryProject ? ` (${settings.bigqueryProject}, ${settings.bigqueryLocation})` : '')],
      ['Limits', `${settings.memory} memory, ${settings.cpus} CPUs`],
      ['Project', `${project} (Docker Compose; unique on this engine)`],
    ]
    this.reporter.progress('Summary:')
    for (const [label, value] of lines) this.reporter.progress(`  ${label.padEnd(12)} ${value}`)
  }

  private showPlan(files: Array<{path: string; action: string; diff?: string; note?: string}>): void {
    const symbols: Record<string, string> = {create: '+', keep: '=', unchanged: '=', update: '~'}
    this.reporter.progress('Plan:')
    for (const file of files) {
      this.reporter.progress(`  ${symbols[file.action]} ${file.path} (${file.action}${file.note ? `: ${file.note}` : ''})`)
      if (file.diff) for (const line of file.diff.split('\n')) this.reporter.progress(`      ${line}`)
    }
  }
}
