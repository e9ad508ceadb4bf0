import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {connectionFlags, connectionOptions} from '../flags/connection.js'
import type {TableInput, TableResult} from '../lib/setup/tables.js'

interface RegisterTableResult {
  url: string
  changed: boolean
  tables: TableResult[]
}

export default class RegisterTable extends AgnesCommand<typeof RegisterTable> {
  static description = `Register one table (flags) or many (--from-file tables.yaml) in the instance's table registry.

Everything is validated before anything is sent: the name must give an id matching [a-z_][a-z0-9_]* (Agnes lowercases it and turns spaces into _), identifiers are letters, digits, _ - . or "quoted" parts (a full Keboola id such as in.c-crm.orders works in --table), and the modes are checked. A bad value is exit 3 and nothing is sent.

Existing ids are looked up first: a duplicate is exit 7 and nothing is registered, unless --if-not-exists skips it (exit 0, status "exists"). Each table reports the status the instance returned: registered (201), ok (200), accepted (202), or rebuild_failed, when the row was registered but its view could not be built (exit 0 with a warning: the registration stands, re-running does not fix the view).`

  static examples = [
    '<%= config.bin %> register-table --name orders --source-type keboola --bucket in.c-crm --table orders --primary-key id',
    '<%= config.bin %> register-table --name orders --source-type keboola --table in.c-crm.orders --if-not-exists --json',
    '<%= config.bin %> register-table --name events --source-type bigquery --bucket analytics --table events --query-mode remote',
    '<%= config.bin %> register-table --from-file tables.yaml --if-not-exists --json',
  ]

  static flags = {
    name: Flags.string({description: 'Table name; its id is the name lowercased with spaces as _ and must match [a-z_][a-z0-9_]*.', env: 'AGNES_TABLE_NAME'}),
    'source-type': Flags.string({description: 'keboola, bigquery, jira, local, databricks or snowflake (default: the instance data source).', env: 'AGNES_TABLE_SOURCE_TYPE'}),
    bucket: Flags.string({description: 'Keboola bucket id (in.c-crm) or BigQuery dataset.', env: 'AGNES_TABLE_BUCKET'}),
    table: Flags.string({description: 'The source table (orders), or a full Keboola id (in.c-crm.orders).', env: 'AGNES_TABLE_SOURCE'}),
    'query-mode': Flags.string({description: 'local (the instance default), remote or materialized.'}),
    'sync-strategy': Flags.string({description: 'full_refresh (the instance default), incremental or partitioned.'}),
    'primary-key': Flags.string({description: 'Primary key column(s), comma-separated or repeated.', multiple: true}),
    description: Flags.string({description: 'Description shown in the catalog.'}),
    'sync-schedule': Flags.string({description: 'every 15m | every 2h | daily 06:00[,18:00] | cron <5 fields>.'}),
    'from-file': Flags.string({description: 'Register every table of a YAML list (keys: these flag names).', exclusive: ['name']}),
    'if-not-exists': Flags.boolean({description: 'Skip tables that are already registered instead of failing with exit 7.', env: 'AGNES_IF_NOT_EXISTS'}),
    ...connectionFlags(30),
  }

  protected async execute(): Promise<RegisterTableResult> {
    const {flags} = this
    const [{connectToInstance}, {registerTables, validateTables}, {readTablesFile}] = await Promise.all([
      import('../lib/api/connect.js'),
      import('../lib/setup/tables.js'),
      import('../lib/setup/setup-file.js'),
    ])
    const inputs = flags['from-file'] ? await readTablesFile(flags['from-file']) : [{input: await this.tableFromFlags()}]
    const connection = await connectToInstance({dir: this.instanceDir, prompter: this.prompter, reporter: this.reporter, signal: this.signal, ...connectionOptions(flags)})
    try {
      const tables = validateTables(inputs, connection.instance?.env.get('DATA_SOURCE'))
      const results = await registerTables(connection.api, tables, {ifNotExists: flags['if-not-exists'], reporter: this.reporter})
      return {changed: results.some((result) => result.changed), tables: results, url: connection.baseUrl}
    } finally {
      await connection.close()
    }
  }

  private async tableFromFlags(): Promise<TableInput> {
    const {flags} = this
    const primaryKey = flags['primary-key']?.flatMap((value) => value.split(','))
    const {bucket, description, table} = flags
    const name = flags.name ?? (await this.askName())
    return {bucket, description, name, primaryKey, queryMode: flags['query-mode'], sourceType: flags['source-type'], syncSchedule: flags['sync-schedule'], syncStrategy: flags['sync-strategy'], table}
  }

  private async askName(): Promise<string> {
    const {InputRequiredError} = await import('../lib/errors.js')
    if (!this.prompter) throw new InputRequiredError('--name', 'The table name', {hint: 'Pass --name (and --source-type, --bucket, --table), or --from-file tables.yaml.'})
    return this.prompter.input({message: 'Table name (letters, digits and _)'})
  }

  protected render(result: RegisterTableResult): void {
    for (const table of result.tables) {
      const status = table.status === 'rebuild_failed' ? this.paint('yellow', table.status) : table.status === 'exists' ? this.paint('dim', table.status) : this.paint('green', table.status)
      this.out(`${table.id}: ${status}${table.httpStatus ? ` (HTTP ${table.httpStatus})` : ''}${table.message ? ` — ${table.message}` : ''}`)
    }

    this.out(result.changed ? `Registered at ${result.url}.` : 'Nothing to register: every table already exists.')
  }
}
