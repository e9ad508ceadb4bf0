import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {UpResult} from '../lib/deploy/up.js'
import {switchFlags, switchOptions} from '../flags/switch.js'

export default class Up extends AgnesCommand<typeof Up> {
  static multiStep = true

  static description = `Start the instance and wait until it is healthy.

Checks the engine, Compose, the port, disk and memory; finishes an interrupted switch, backup or restore first (its journal); resolves the pinned version or channel to an image digest once (or keeps the recorded one); pulls it if needed; starts the app and waits until /api/health says status ok and db_schema ok (HTTP 200 alone is not health); then starts the other services. A container that exits or restarts fails at once. The first deployment is a plain start; when the running version would change afterwards, up switches the way \`agnes upgrade\` does (state backup, health and smoke gates, automatic rollback: exit 10), and a digest that was rolled back, or that the publisher tagged deprecated-*, is refused (exit 7) unless --force. On a healthy instance a second run changes nothing.`

  static examples = ['<%= config.bin %> up', '<%= config.bin %> up --dir /opt/agnes --health-timeout 600 --json']

  static flags = {
    force: Flags.boolean({description: 'Deploy the digest even if it was rolled back before or the publisher marked it deprecated.'}),
    ...switchFlags,
  }

  protected isQuiet(): boolean {
    return this.flags?.quiet ?? false
  }

  protected async execute(): Promise<UpResult> {
    const {up} = await import('../lib/deploy/up.js')
    return up({...(await switchOptions(this.flags, this.reporter, this.signal)), dir: this.instanceDir, force: this.flags.force, reporter: this.reporter, signal: this.signal})
  }

  protected render(result: UpResult): void {
    const version = result.version ? `Agnes ${result.version}` : 'Agnes'
    this.out(result.changed ? `${version} is running and healthy (${result.tag}, ${result.digest.slice(0, 19)}).` : `${version} was already running and healthy; nothing changed.`)
    this.out(`URL: ${this.paint('bold', result.url)}`)
    this.out(`Next: agnes configure${result.dir === process.cwd() ? '' : ` --dir ${result.dir}`}`)
  }
}
