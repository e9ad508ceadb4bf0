/**
 * Help texts and environment twins of the flags every API command shares (configure, register-table, smoke,
 * and later status/upgrade). Commands wrap them in oclif Flags; this module imports nothing, so loading it
 * costs nothing at startup.
 */
export const API_FLAG_HELP = {
  bootWait: {
    description: 'Seconds to keep retrying an instance that is still starting (connection refused, HTTP 502/503) before giving up with exit 8.',
    env: 'AGNES_BOOT_WAIT',
  },
  tokenFile: {
    description:
      "Read the API token from this file (or set AGNES_TOKEN). Default: SCHEDULER_API_TOKEN from the instance's .env, which is sent only to the URL that instance is published on.",
    env: 'AGNES_TOKEN_FILE',
  },
  url: {
    description:
      'Base URL of an instance elsewhere, e.g. https://agnes.example.com (default: the instance in --dir, on 127.0.0.1). Plain http:// only to loopback; another URL needs its own token (--token-file, AGNES_TOKEN).',
    env: 'AGNES_URL',
  },
} as const
