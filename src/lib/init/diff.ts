/**
 * .env keys of agnes's own whose values are not secret and are shown in diffs. Every other value is masked:
 * an operator's key (MY_DB_PASSWORD, OPENAI_API_KEY, …) may hold anything.
 */
const SHOWN_ENV_KEYS = new Set([
  'COMPOSE_PROJECT_NAME',
  'AGNES_HTTP_PORT',
  'AGNES_HTTP_BIND',
  'DOMAIN',
  'SERVER_URL',
  'CADDY_TLS',
  'AGNES_TLS_CERT_DIR',
  'AGNES_CADDY_IMAGE',
  'DATA_SOURCE',
  'KEBOOLA_STACK_URL',
  'BIGQUERY_PROJECT',
  'BIGQUERY_LOCATION',
  'AGNES_APP_MEM_LIMIT',
  'AGNES_APP_CPUS',
  'AGNES_SCHEDULER_MEM_LIMIT',
  'AGNES_SCHEDULER_CPUS',
  'AGNES_HEALTHCHECK_INTERVAL',
  'AGNES_HEALTHCHECK_START_PERIOD',
  'AGNES_NOFILE',
  'AGNES_TEMP_DIR',
])

/** Masks the value on a diff line (`+KEY=value`, `-KEY=value`, ` KEY=value`, commented too) unless the key is known harmless. */
function maskValueLine(line: string): string {
  const match = /^([-+ ]\s*(?:#\s*)?(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=)(.*)$/.exec(line)
  if (!match || match[3].trim() === '') return line
  // A URL with user:password@ is a credential even under a harmless key.
  if (SHOWN_ENV_KEYS.has(match[2]) && !/:\/\/[^/\s]*@/.test(match[3])) return line
  return `${match[1]}***`
}

export async function unifiedDiff(name: string, before: string, after: string): Promise<string> {
  const {createTwoFilesPatch} = await import('diff')
  return createTwoFilesPatch(`a/${name}`, `b/${name}`, before, after, '', '', {context: 2})
    .split('\n')
    .slice(1)
    .map((line) => maskValueLine(line.replace(/\t$/, '')))
    .join('\n')
    .trimEnd()
}
