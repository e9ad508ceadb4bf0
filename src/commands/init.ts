import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {setupFlags} from '../flags/setup.js'
import {resultLines} from '../lib/init/format.js'
import type {InitResult} from '../lib/init/run.js'

export default class Init extends AgnesCommand<typeof Init> {
  static description = `Write (or update) an Agnes instance directory.

Creates docker-compose.yml (managed), docker-compose.override.yml (yours, created once), .env (0600, with generated secrets), config/instance.yaml, a Caddyfile when TLS is on, and .agnes/ state. Re-running keeps every secret, every .env key and comment of yours and the override file, and shows a diff of what changes (values masked, except agnes's own harmless settings).

On a terminal, a wizard asks for every value no flag gave: it says first what it will write and where, checks each answer where it is asked, asks for the admin password twice, offers the registry's recent versions when you pin one, and ends with the URL and the next command.

Without TLS the app port is published on every interface (0.0.0.0); --bind 127.0.0.1 keeps it on loopback for your own reverse proxy on this host. With TLS it is always on 127.0.0.1 behind Caddy.

The Compose project name is chosen once, unique on the Docker engine (the directory name, or it plus a hash of the path when another directory uses it). Secrets you give (Keboola token, admin password) come from an environment variable, a file or stdin, never from a flag value.`

  static examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init --non-interactive --dir /opt/agnes --admin-email admin@example.com --data-source local',
    'AGNES_KEBOOLA_TOKEN=… <%= config.bin %> init --non-interactive --admin-email admin@example.com --data-source keboola --keboola-url https://connection.keboola.com',
    '<%= config.bin %> init --pin stable-2026.04.3 --tls acme --domain agnes.example.com --acme-email ops@example.com --admin-email admin@example.com',
    '<%= config.bin %> init --non-interactive --admin-email admin@example.com --bind 127.0.0.1',
    '<%= config.bin %> init --dry-run --http-port 8080',
  ]

  static flags = {
    image: Flags.string({description: 'Image repository (default ghcr.io/keboola/agnes-the-ai-analyst; a mirror or local registry works).', env: 'AGNES_IMAGE', helpGroup: 'VERSION'}),
    channel: Flags.string({description: 'Release channel to follow: stable or dev (default stable).', env: 'AGNES_CHANNEL', helpGroup: 'VERSION', options: ['stable', 'dev']}),
    pin: Flags.string({description: 'Pin an exact version instead of following a channel, e.g. stable-2026.04.3.', env: 'AGNES_PIN', helpGroup: 'VERSION'}),
    'http-port': Flags.string({description: 'Host port of the app (default 8000).', env: 'AGNES_HTTP_PORT', helpGroup: 'NETWORK'}),
    bind: Flags.string({description: 'Host address of the app port without TLS: 0.0.0.0 (every interface, the default) or 127.0.0.1 (only your own proxy on this host reaches it).', env: 'AGNES_BIND', helpGroup: 'NETWORK'}),
    tls: Flags.string({description: 'TLS mode: none, acme, internal or files (default none).', env: 'AGNES_TLS', helpGroup: 'NETWORK'}),
    domain: Flags.string({description: 'Public domain name (required with TLS).', env: 'AGNES_DOMAIN', helpGroup: 'NETWORK'}),
    'acme-email': Flags.string({description: "Email for Let's Encrypt (with --tls acme).", env: 'AGNES_ACME_EMAIL', helpGroup: 'NETWORK'}),
    'tls-cert-dir': Flags.string({description: 'Directory with fullchain.pem and privkey.pem (with --tls files).', env: 'AGNES_TLS_CERT_DIR', helpGroup: 'NETWORK'}),
    ...setupFlags,
    memory: Flags.string({description: 'Memory limit of the app container (default 4g).', env: 'AGNES_MEMORY', helpGroup: 'RESOURCES'}),
    cpus: Flags.string({description: 'CPU limit of the app container (default 2.0).', env: 'AGNES_CPUS', helpGroup: 'RESOURCES'}),
    'dry-run': Flags.boolean({description: 'Print the plan and the diff; write nothing.'}),
    force: Flags.boolean({description: 'Replace managed files (docker-compose.yml, Caddyfile) even if they were edited by hand.'}),
    project: Flags.string({description: 'Compose project name for a new instance, or for a copied directory whose project belongs to another one (default: chosen once, unique on the engine).', env: 'AGNES_PROJECT'}),
  }

  protected async execute(): Promise<InitResult> {
    const [{runInit}, {camelCaseKeys}] = await Promise.all([import('../lib/init/run.js'), import('../lib/setup/flag-values.js')])
    const {'admin-password-file': adminPasswordFile, 'admin-password-stdin': adminPasswordStdin, 'dry-run': dryRun, force, 'keboola-token-file': keboolaTokenFile, 'keboola-token-stdin': keboolaTokenStdin, project, yes, ...given} = this.flags
    const {prompter, reporter} = this
    return runInit({
      dir: this.instanceDir,
      dryRun,
      force,
      given: camelCaseKeys(given),
      project,
      reporter,
      secrets: {adminPasswordFile, adminPasswordStdin, keboolaTokenFile, keboolaTokenStdin},
      wizard: prompter ? {prompter, say: (line) => reporter.progress(line)} : undefined,
      yes,
    })
  }

  protected render(result: InitResult): void {
    for (const line of resultLines(result, (style, text) => this.paint(style, text))) this.out(line)
  }
}
