import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {InvalidInputError} from '../lib/errors.js'
import type {UpResult} from '../lib/up.js'

export default class Up extends AgnesCommand<typeof Up> {
  static description = `Start the instance and wait until it is healthy.

Checks the engine, Compose, the port, disk and memory; resolves the pinned version or channel to an image
digest once (or keeps the recorded one); pulls it if needed; starts the app and waits until /api/health says
status ok and db_schema ok (HTTP 200 alone is not health); then starts the other services. A container that
exits or restarts fails at once. On a healthy instance a second run changes nothing.`

  static examples = ['<%= config.bin %> up', '<%= config.bin %> up --dir /opt/agnes --health-timeout 600 --json']

  static flags = {
    'health-timeout': Flags.integer({default: 300, description: 'Seconds to wait for the app to become healthy.', env: 'AGNES_HEALTH_TIMEOUT', min: 1}),
  }

  protected async execute(): Promise<UpResult> {
    if (this.flags['health-timeout'] > 24 * 3600) throw new InvalidInputError('--health-timeout is at most 86400 seconds')
    const {openDeployContext} = await import('../lib/deploy.js')
    const {up} = await import('../lib/up.js')
    const ctx = await openDeployContext(this.instanceDir, this.reporter, this.signal)
    return up(ctx, {healthTimeoutMs: this.flags['health-timeout'] * 1000})
  }

  protected render(result: UpResult): void {
    const version = result.version ? `Agnes ${result.version}` : 'Agnes'
    this.out(result.changed ? `${version} is running and healthy (${result.tag}, ${result.digest.slice(0, 19)}).` : `${version} was already running and healthy; nothing changed.`)
    this.out(`URL: ${this.paint('bold', result.url)}`)
    this.out(`Next: agnes configure${result.dir === process.cwd() ? '' : ` --dir ${result.dir}`}`)
  }
}
