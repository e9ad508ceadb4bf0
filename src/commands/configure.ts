import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {API_FLAG_HELP} from '../lib/api/flags.js'
import type {ConfigureResult} from '../lib/setup/configure.js'

export default class Configure extends AgnesCommand<typeof Configure> {
  static multiStep = true

  static description = `Finish the setup of a running instance through its admin API: first admin, data source, tables, first sync.

Steps, in order, each only after the previous one succeeded:
  1. the first admin (POST /auth/bootstrap). If the instance already has that admin, nothing is done; another
     admin (or a wrong password) is a conflict (exit 7). Set AGNES_BOOTSTRAP_TOKEN to send X-Bootstrap-Token.
  2. the data source (POST /api/admin/configure): keboola (URL + Storage token), bigquery (project, location) or
     local, plus the instance name and the allowed login domain. If the change repoints registered tables,
     the instance lists them and nothing changes without --confirm-connection-change (or a yes at the prompt).
  3. --discover: register every table the Keboola project has (--dry-run: only show them).
  4. tables listed in the --from-file setup file (registered when missing).
  5. --sync: the first sync; --wait follows the job until it is done or failed. A sync already running is fine.

Defaults come from the instance in --dir: the admin email given to init, the data source, Keboola URL and
token and BigQuery project in .env, and the admin password init kept in .agnes/secrets.env. Secrets are read
from environment variables, files or stdin, never from flag values. Running configure twice with the same
input succeeds twice; the second run reports changed: false.

The admin password: AGNES_ADMIN_PASSWORD, --admin-password-file, --admin-password-stdin, .agnes/secrets.env,
or a hidden prompt. Without a terminal and with none of these, configure generates one (20 characters) and
keeps it in .agnes/secrets.env (mode 0600) without printing it; the output names that file, and later runs
use the password kept there. --generate-password generates one even with a terminal, and also prints it once
on stderr in human mode (never under --json unless --reveal-password puts it into the JSON result).`

  static examples = [
    '<%= config.bin %> configure --dir /opt/agnes --admin-email admin@example.com --generate-password --data-source local',
    'AGNES_ADMIN_PASSWORD=… AGNES_KEBOOLA_TOKEN=… <%= config.bin %> configure --dir /opt/agnes --json --admin-email admin@example.com --data-source keboola --keboola-url https://connection.keboola.com --discover --sync --wait',
    '<%= config.bin %> configure --dir /opt/agnes --from-file setup.yaml --json',
    '<%= config.bin %> configure --discover --dry-run',
    '<%= config.bin %> configure --data-source keboola --keboola-url https://connection.eu-central-1.keboola.com --confirm-connection-change',
  ]

  static flags = {
    'from-file': Flags.string({description: 'Read the settings from a YAML file; keys are these flag names (flags win). See docs/headless-setup.md.', env: 'AGNES_SETUP_FILE'}),
    'admin-email': Flags.string({description: 'Email of the first admin (default: the one given to agnes init).', env: 'AGNES_ADMIN_EMAIL', helpGroup: 'ADMIN'}),
    'admin-name': Flags.string({description: 'Display name of the first admin.', env: 'AGNES_ADMIN_NAME', helpGroup: 'ADMIN'}),
    'admin-password-file': Flags.string({description: 'Read the admin password from this file (or set AGNES_ADMIN_PASSWORD).', env: 'AGNES_ADMIN_PASSWORD_FILE', helpGroup: 'ADMIN'}),
    'admin-password-stdin': Flags.boolean({description: 'Read the admin password from stdin.', helpGroup: 'ADMIN'}),
    'generate-password': Flags.boolean({description: 'Generate the admin password when none is given (kept in .agnes/secrets.env, shown once).', helpGroup: 'ADMIN'}),
    'reveal-password': Flags.boolean({description: 'With --json: put a generated admin password into the JSON result.', helpGroup: 'ADMIN'}),
    'passwordless-admin': Flags.boolean({description: 'Create the admin without a password (instances that log in through OAuth only).', helpGroup: 'ADMIN'}),
    'data-source': Flags.string({description: 'keboola, bigquery or local (default: DATA_SOURCE in the instance .env).', env: 'AGNES_DATA_SOURCE', helpGroup: 'DATA SOURCE'}),
    'keboola-url': Flags.string({description: 'Keboola stack URL (default: KEBOOLA_STACK_URL in .env).', env: 'AGNES_KEBOOLA_URL', helpGroup: 'DATA SOURCE'}),
    'keboola-token-file': Flags.string({description: 'Read the Keboola Storage token from this file (or set AGNES_KEBOOLA_TOKEN; default: KEBOOLA_STORAGE_TOKEN in .env).', env: 'AGNES_KEBOOLA_TOKEN_FILE', helpGroup: 'DATA SOURCE'}),
    'keboola-token-stdin': Flags.boolean({description: 'Read the Keboola Storage token from stdin.', helpGroup: 'DATA SOURCE'}),
    'bigquery-project': Flags.string({description: 'GCP project id (default: BIGQUERY_PROJECT in .env).', env: 'AGNES_BIGQUERY_PROJECT', helpGroup: 'DATA SOURCE'}),
    'bigquery-location': Flags.string({description: 'BigQuery location (the instance defaults to us).', env: 'AGNES_BIGQUERY_LOCATION', helpGroup: 'DATA SOURCE'}),
    'instance-name': Flags.string({description: 'Name of the instance shown in the UI.', env: 'AGNES_INSTANCE_NAME', helpGroup: 'DATA SOURCE'}),
    'allowed-domain': Flags.string({description: 'Email domain allowed to log in, e.g. example.com.', env: 'AGNES_ALLOWED_DOMAIN', helpGroup: 'DATA SOURCE'}),
    'confirm-connection-change': Flags.boolean({description: 'Apply a data source change that repoints registered tables (--yes does not imply it).', env: 'AGNES_CONFIRM_CONNECTION_CHANGE', helpGroup: 'DATA SOURCE'}),
    discover: Flags.boolean({description: 'Register every table the Keboola project has (existing ones are kept).', helpGroup: 'ACTIONS'}),
    'dry-run': Flags.boolean({description: 'Change nothing: show the requests, and with --discover what would be registered.', helpGroup: 'ACTIONS'}),
    sync: Flags.boolean({description: 'Trigger a sync of all tables at the end.', helpGroup: 'ACTIONS'}),
    wait: Flags.boolean({description: 'With --sync: follow the sync until it is done or failed (a failed sync is exit 3).', helpGroup: 'ACTIONS'}),
    'wait-timeout': Flags.integer({description: 'Seconds --wait follows the sync before giving up with exit 75 (default 1800).', min: 1, helpGroup: 'ACTIONS'}),
    url: Flags.string({...API_FLAG_HELP.url, helpGroup: 'CONNECTION'}),
    'token-file': Flags.string({...API_FLAG_HELP.tokenFile, helpGroup: 'CONNECTION'}),
    'boot-wait': Flags.integer({...API_FLAG_HELP.bootWait, default: 60, min: 0, helpGroup: 'CONNECTION'}),
  }

  protected async execute(): Promise<ConfigureResult> {
    const {flags} = this
    const [{connectToInstance}, {resolveConfigureSettings}, {runConfigure}] = await Promise.all([
      import('../lib/api/connect.js'),
      import('../lib/setup/configure-settings.js'),
      import('../lib/setup/configure.js'),
    ])
    const json = this.jsonEnabled()
    const connection = await connectToInstance({
      dir: this.instanceDir,
      prompter: this.prompter,
      reporter: this.reporter,
      signal: this.signal,
      timeouts: {bootWaitMs: flags['boot-wait'] * 1000},
      tokenFile: flags['token-file'],
      url: flags.url,
    })
    try {
      const settings = await resolveConfigureSettings(
        {
          adminEmail: flags['admin-email'],
          adminName: flags['admin-name'],
          adminPasswordFile: flags['admin-password-file'],
          adminPasswordStdin: flags['admin-password-stdin'],
          allowedDomain: flags['allowed-domain'],
          bigqueryLocation: flags['bigquery-location'],
          bigqueryProject: flags['bigquery-project'],
          confirmConnectionChange: flags['confirm-connection-change'],
          dataSource: flags['data-source'],
          discover: flags.discover,
          dryRun: flags['dry-run'],
          fromFile: flags['from-file'],
          generatePassword: flags['generate-password'],
          instanceName: flags['instance-name'],
          keboolaTokenFile: flags['keboola-token-file'],
          keboolaTokenStdin: flags['keboola-token-stdin'],
          keboolaUrl: flags['keboola-url'],
          passwordlessAdmin: flags['passwordless-admin'],
          revealPassword: json && flags['reveal-password'],
          sync: flags.sync,
          wait: flags.wait,
          waitTimeoutSeconds: flags['wait-timeout'],
        },
        {env: process.env, instance: connection.instance, json, ownInstance: connection.ownInstance, prompter: this.prompter},
      )
      const {prompter} = this
      return await runConfigure(connection.api, settings, {
        confirmConnectionChange: prompter ? () => prompter.confirm({default: false, message: 'Apply this change?'}) : undefined,
        instance: connection.instance,
        onPasswordGenerated: json ? undefined : (email, password, savedTo) => this.showGeneratedPassword(email, password, savedTo),
        reporter: this.reporter,
        signal: this.signal,
      })
    } finally {
      await connection.close()
    }
  }

  /** The one place a secret is printed: on request, once, on stderr, never under --json. */
  private showGeneratedPassword(email: string, password: string, savedTo?: string): void {
    const kept = savedTo ? ` It is also kept in ${savedTo} (mode 0600).` : ' It is not stored anywhere: keep it now.'
    process.stderr.write(`\nGenerated password for the admin ${email}: ${password}\nIt is shown only this once.${kept}\n\n`)
  }

  protected render(result: ConfigureResult): void {
    const row = (label: string, value: string) => this.out(`  ${label.padEnd(12)} ${value}`)
    this.out(`${result.dryRun ? 'Dry run against' : 'Agnes at'} ${result.url}`)
    const {admin, dataSource} = result
    row('admin', admin.status === 'skipped' ? `skipped (${admin.reason})` : `${admin.email}: ${admin.status}${admin.message && admin.status !== 'created' ? ` (${admin.message})` : ''}`)
    if (admin.status !== 'skipped' && admin.passwordSavedTo) row('', `its generated password is AGNES_ADMIN_PASSWORD in ${admin.passwordSavedTo} (mode 0600)`)
    row('data source', `${dataSource.type}: ${dataSource.status}${dataSource.connection ? ` (connection ${dataSource.connection})` : ''}`)
    if (dataSource.request) row('', `would send ${JSON.stringify(dataSource.request)}`)
    if (result.discovery) {
      const discovery = result.discovery
      row(
        'discovery',
        discovery.dryRun
          ? `would register ${discovery.wouldRegister?.length ?? 0}${discovery.wouldRegister?.length ? `: ${discovery.wouldRegister.join(', ')}` : ''} (${discovery.skipped} already registered)`
          : `registered ${discovery.registered}, already there ${discovery.skipped}, errors ${discovery.errors}, drifted ${discovery.drifted}`,
      )
    }

    for (const table of result.tables ?? []) row('table', `${table.id}: ${table.status}${table.httpStatus ? ` (HTTP ${table.httpStatus})` : ''}`)
    const {sync} = result
    if (sync) {
      row(
        'sync',
        sync.trigger === 'would-trigger'
          ? 'would be triggered'
          : `${sync.trigger}${sync.jobId ? ` (job ${sync.jobId})` : ''}${sync.outcome ? `: ${sync.outcome}${sync.durationMs === undefined ? '' : ` after ${Math.round(sync.durationMs / 1000)} s`}` : ''}`,
      )
    }

    this.out(result.dryRun ? 'Nothing was changed (dry run).' : result.changed ? 'Changed: yes.' : 'Changed: nothing (already configured this way).')
    if (!result.dryRun) this.out(this.paint('dim', `Next: agnes smoke${result.url.startsWith('http://127.0.0.1') ? '' : ` --url ${result.url}`}`))
  }
}
