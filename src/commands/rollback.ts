import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {RollbackResult} from '../lib/deploy/rollback.js'
import {switchFlags, switchOptions} from '../flags/switch.js'

export default class Rollback extends AgnesCommand<typeof Rollback> {
  static multiStep = true

  static description = `Go back to the last known-good deployment, or to the one named with --to.

Uses the image kept on this host, so it works when the registry no longer has that version; restores the state backup taken when that deployment was left if the schema is ahead of it; same health gate and smoke test (a failure switches back again, exit 10). The version left behind is not applied again by cron. A pin follows the rollback: it moves to the target's version tag when that is known, else it is removed (the instance follows its channel again).`

  static examples = ['<%= config.bin %> rollback', '<%= config.bin %> rollback --to stable-2026.04.1', '<%= config.bin %> rollback --to sha256:0123… --json']

  static flags = {
    to: Flags.string({description: 'A version tag or digest to roll back to (see `agnes history`).'}),
    ...switchFlags,
  }

  protected isQuiet(): boolean {
    return this.flags?.quiet ?? false
  }

  protected async execute(): Promise<RollbackResult> {
    const {rollback} = await import('../lib/deploy/rollback.js')
    return rollback({...(await switchOptions(this.flags, this.reporter, this.signal)), dir: this.instanceDir, reporter: this.reporter, signal: this.signal, to: this.flags.to})
  }

  protected render(result: RollbackResult): void {
    this.out(result.message)
  }
}
