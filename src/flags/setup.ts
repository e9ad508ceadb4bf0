import {Flags} from '@oclif/core'

/**
 * The setup values init and configure share. Secrets come from a file flag, a --…-stdin flag or the
 * environment variable holding the value, never from a flag value.
 */
export const setupFlags = {
  'admin-email': Flags.string({description: 'Email of the first admin (default: the one the instance already has).', env: 'AGNES_ADMIN_EMAIL', helpGroup: 'ADMIN'}),
  'admin-password-file': Flags.string({description: 'Read the admin password from this file (or set AGNES_ADMIN_PASSWORD).', env: 'AGNES_ADMIN_PASSWORD_FILE', helpGroup: 'ADMIN'}),
  'admin-password-stdin': Flags.boolean({description: 'Read the admin password from stdin.', helpGroup: 'ADMIN'}),
  'data-source': Flags.string({description: 'keboola, bigquery or local (default: DATA_SOURCE in the instance .env; a new instance starts with local).', env: 'AGNES_DATA_SOURCE', helpGroup: 'DATA SOURCE'}),
  'keboola-url': Flags.string({description: 'Keboola stack URL, e.g. https://connection.keboola.com (default: KEBOOLA_STACK_URL in .env).', env: 'AGNES_KEBOOLA_URL', helpGroup: 'DATA SOURCE'}),
  'keboola-token-file': Flags.string({description: 'Read the Keboola Storage token from this file (or set AGNES_KEBOOLA_TOKEN; default: KEBOOLA_STORAGE_TOKEN in .env).', env: 'AGNES_KEBOOLA_TOKEN_FILE', helpGroup: 'DATA SOURCE'}),
  'keboola-token-stdin': Flags.boolean({description: 'Read the Keboola Storage token from stdin.', helpGroup: 'DATA SOURCE'}),
  'bigquery-project': Flags.string({description: 'GCP project id (default: BIGQUERY_PROJECT in .env).', env: 'AGNES_BIGQUERY_PROJECT', helpGroup: 'DATA SOURCE'}),
  'bigquery-location': Flags.string({description: 'BigQuery location such as us, eu or europe-west1 (default: BIGQUERY_LOCATION in .env, else us).', env: 'AGNES_BIGQUERY_LOCATION', helpGroup: 'DATA SOURCE'}),
}
