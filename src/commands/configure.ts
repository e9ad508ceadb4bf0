import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {connectionFlags, connectionOptions} from '../flags/connection.js'
import {setupFlags} from '../flags/setup.js'
import {configureResultLines} from '../lib/setup/format.js'
import type {ConfigureResult} from '../lib/setup/configure.js'

export default class Configure extends AgnesCommand<typeof Configure> {
  static multiStep = true

  static description = `Finish the setup of a running instance through its admin API: first admin, data source, tables, first sync.

Steps, in order, each only after the previous one succeeded:
  1. the first admin (POST /auth/bootstrap). If the instance already has that admin, nothing is done; another admin (or a wrong password) is a conflict (exit 7). Set AGNES_BOOTSTRAP_TOKEN to send X-Bootstrap-Token.
  2. the data source (POST /api/admin/configure): keboola (URL + Storage token), bigquery (project, location) or local, plus the instance name and the allowed login domain. If the change repoints registered tables, the instance lists them and nothing changes without --confirm-connection-change (or a yes at the prompt).
  3. --discover: register every table the Keboola project has (--dry-run: only show them).
  4. tables listed in the --from-file setup file (registered when missing).
  5. --sync: the first sync; --wait follows the job until it is done or failed. A sync already running is fine.

Defaults come from the instance in --dir: the admin email given to init, the data source, Keboola URL and token and BigQuery project in .env, and the admin password init kept in .agnes/secrets.env. Secrets are read from environment variables, files or stdin, never from flag values. Running configure twice with the same input succeeds twice; the second run reports changed: false.

The admin password: AGNES_ADMIN_PASSWORD, --admin-password-file, --admin-password-stdin, .agnes/secrets.env, or a hidden prompt. Without a terminal and with none of these, configure generates one (20 characters) and keeps it in .agnes/secrets.env (mode 0600) without printing it; the output names that file, and later runs use the password kept there. --generate-password generates one even with a terminal, and also prints it once on stderr in human mode (never under --json unless --reveal-password puts it into the JSON result).`

  static examples = [
    '<%= config.bin %> configure --dir /opt/agnes --admin-email admin@example.com --generate-password --data-source local',
    'AGNES_ADMIN_PASSWORD=… AGNES_KEBOOLA_TOKEN=… <%= config.bin %> configure --dir /opt/agnes --json --admin-email admin@example.com --data-source keboola --keboola-url https://connection.keboola.com --discover --sync --wait',
    '<%= config.bin %> configure --dir /opt/agnes --from-file setup.yaml --json',
    '<%= config.bin %> configure --discover --dry-run',
    '<%= config.bin %> configure --data-source keboola --keboola-url https://connection.eu-central-1.keboola.com --confirm-connection-change',
  ]

  static flags = {
    'from-file': Flags.string({description: 'Read the settings from a YAML file; keys are these flag names (flags win). See docs/headless-setup.md.', env: 'AGNES_SETUP_FILE'}),
    ...setupFlags,
    'admin-name': Flags.string({description: 'Display name of the first admin.', env: 'AGNES_ADMIN_NAME', helpGroup: 'ADMIN'}),
    'generate-password': Flags.boolean({description: 'Generate the admin password when none is given (kept in .agnes/secrets.env, shown once).', helpGroup: 'ADMIN'}),
    'reveal-password': Flags.boolean({description: 'With --json: put a generated admin password into the JSON result.', helpGroup: 'ADMIN'}),
    'passwordless-admin': Flags.boolean({description: 'Create the admin without a password (instances that log in through OAuth only).', helpGroup: 'ADMIN'}),
    'instance-name': Flags.string({description: 'Name of the instance shown in the UI.', env: 'AGNES_INSTANCE_NAME', helpGroup: 'DATA SOURCE'}),
    'allowed-domain': Flags.string({description: 'Email domain allowed to log in, e.g. example.com.', env: 'AGNES_ALLOWED_DOMAIN', helpGroup: 'DATA SOURCE'}),
    'confirm-connection-change': Flags.boolean({description: 'Apply a data source change that repoints registered tables (--yes does not imply it).', env: 'AGNES_CONFIRM_CONNECTION_CHANGE', helpGroup: 'DATA SOURCE'}),
    discover: Flags.boolean({description: 'Register every table the Keboola project has (existing ones are kept).', helpGroup: 'ACTIONS'}),
    'dry-run': Flags.boolean({description: 'Change nothing: show the requests, and with --discover what would be registered.', helpGroup: 'ACTIONS'}),
    sync: Flags.boolean({description: 'Trigger a sync of all tables at the end.', helpGroup: 'ACTIONS'}),
    wait: Flags.boolean({description: 'With --sync: follow the sync until it is done or failed (a failed sync is exit 3).', helpGroup: 'ACTIONS'}),
    'wait-timeout': Flags.integer({description: 'Seconds --wait follows the sync before giving up with exit 75 (default 1800).', min: 1, helpGroup: 'ACTIONS'}),
    ...connectionFlags(60),
  }

  protected async execute(): Promise<ConfigureResult> {
    const [{connectToInstance}, {resolveConfigureSettings}, {runConfigure}, {camelCaseKeys}] = await Promise.all([
      import('../lib/api/connect.js'),
      import('../lib/setup/configure-settings.js'),
      import('../lib/setup/configure.js'),
      import('../lib/setup/flag-values.js'),
    ])
    const {flags, prompter, reporter, signal} = this
    const json = this.jsonEnabled()
    const connection = await connectToInstance({dir: this.instanceDir, prompter, reporter, signal, ...connectionOptions(flags)})
    try {
      const given = {...camelCaseKeys(flags), revealPassword: json && flags['reveal-password']}
      const settings = await resolveConfigureSettings(given, {env: process.env, instance: connection.instance, json, ownInstance: connection.ownInstance, prompter})
      return await runConfigure(connection.api, settings, {
        confirmConnectionChange: prompter ? () => prompter.confirm({default: false, message: 'Apply this change?'}) : undefined,
        instance: connection.instance,
        onPasswordGenerated: json ? undefined : (email, password, savedTo) => this.showGeneratedPassword(email, password, savedTo),
        reporter,
        signal,
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
    for (const line of configureResultLines(result, (style, text) => this.paint(style, text))) this.out(line)
  }
}
