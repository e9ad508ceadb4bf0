import {Flags} from '@oclif/core'

/**
 * How an API command reaches an instance (configure, register-table, smoke). Only the boot wait differs
 * between commands: a smoke test should fail fast, a first configure may wait for a slow boot.
 */
export function connectionFlags(defaultBootWaitSeconds: number) {
  return {
    url: Flags.string({
      description:
        'Base URL of an instance elsewhere, e.g. https://agnes.example.com (default: the instance in --dir, on 127.0.0.1). Plain http:// only to loopback; another URL needs its own token (--token-file, AGNES_TOKEN).',
      env: 'AGNES_URL',
      helpGroup: 'CONNECTION',
    }),
    'token-file': Flags.string({
      description: "Read the API token from this file (or set AGNES_TOKEN). Default: SCHEDULER_API_TOKEN from the instance's .env, which is sent only to the URL that instance is published on.",
      env: 'AGNES_TOKEN_FILE',
      helpGroup: 'CONNECTION',
    }),
    'boot-wait': Flags.integer({
      default: defaultBootWaitSeconds,
      description: 'Seconds to keep retrying an instance that is still starting (connection refused, HTTP 502/503) before giving up with exit 8.',
      env: 'AGNES_BOOT_WAIT',
      helpGroup: 'CONNECTION',
      min: 0,
    }),
  }
}

/** What connectToInstance (src/lib/api/connect.ts) needs from these flags. */
export function connectionOptions(flags: {url?: string; 'token-file'?: string; 'boot-wait': number}) {
  return {timeouts: {bootWaitMs: flags['boot-wait'] * 1000}, tokenFile: flags['token-file'], url: flags.url}
}
