import {Args, Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {UsageError} from '../lib/errors.js'
import type {PinResult} from '../lib/deploy/pin.js'
import {switchFlags, switchOptions} from '../flags/switch.js'

export default class Pin extends AgnesCommand<typeof Pin> {
  static multiStep = true

  static description = `Run exactly one version and stop following the channel; or, with --channel, follow a channel again.

The version must exist in the registry; its digest is resolved once and switched to with the same health gate, smoke test and automatic rollback as an upgrade (exit 10 when it was rolled back). A version the publisher tagged deprecated-* is refused (exit 7) unless --force. Afterwards \`agnes upgrade\` leaves the instance alone.`

  static examples = ['<%= config.bin %> pin stable-2026.04.3', '<%= config.bin %> pin --channel stable', '<%= config.bin %> pin dev-2026.05.12 --json']

  static args = {
    version: Args.string({description: 'A versioned tag such as stable-2026.04.3.'}),
  }

  static flags = {
    channel: Flags.string({description: 'Unpin and follow this channel again (switches at once when the digests differ).', options: ['stable', 'dev']}),
    force: Flags.boolean({description: 'Deploy the version even if the publisher marked it deprecated.'}),
    ...switchFlags,
  }

  protected isQuiet(): boolean {
    return this.flags?.quiet ?? false
  }

  protected async execute(): Promise<PinResult> {
    const version = this.args.version
    const channel = this.flags.channel as PinResult['channel'] | undefined
    if (Boolean(version) === Boolean(channel)) {
      throw new UsageError('give either a version to pin or --channel to follow', {hint: 'agnes pin stable-2026.04.3, or agnes pin --channel stable'})
    }

    const {pin} = await import('../lib/deploy/pin.js')
    return pin({...(await switchOptions(this.flags, this.reporter, this.signal)), channel, dir: this.instanceDir, force: this.flags.force, reporter: this.reporter, signal: this.signal, version})
  }

  protected render(result: PinResult): void {
    this.out(result.message)
  }
}
