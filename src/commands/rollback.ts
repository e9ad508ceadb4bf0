import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {RollbackResult} from '../lib/deploy/rollback.js'
import {switchFlags, switchOptions} from '../flags/switch.js'

export default class Rollback extends AgnesCommand<typeof Rollback> {
  static multiStep = true

  static description = `Go back to the last known-good deployment, or to the one named with --to.

Uses the image kept on this host, so it works when the registry no longer has that version; restores the state backup taken when that deployment was left if the schema is ahead of it; same health gate and smoke test (a failure switches back again, exit 10). The version left behind is not applied again by cron. A pin follows the rollback: it moves to the target's version tag when that is known, else it is removed (the instance follows its channel again). --retract (the canary, with push rights in the Docker config) also tags the version left behind deprecated-<version> in the registry and moves its channel back to the version that runs now, so no other instance deploys it; without push rights the rollback stands and the result says why the retraction failed.`

  static examples = ['<%= config.bin %> rollback', '<%= config.bin %> rollback --to stable-2026.04.1', '<%= config.bin %> rollback --to sha256:0123… --json', '<%= config.bin %> rollback --retract --quiet']

  static flags = {
    to: Flags.string({description: 'A version tag or digest to roll back to (see `agnes history`).'}),
    retract: Flags.boolean({description: 'Also retract the version left behind: tag it deprecated-<version> and move its channel back (needs push rights).', env: 'AGNES_ROLLBACK_RETRACT'}),
    ...switchFlags,
  }

  protected isQuiet(): boolean {
    return this.flags?.quiet ?? false
  }

  protected async execute(): Promise<RollbackResult> {
    const {rollback} = await import('../lib/deploy/rollback.js')
    return rollback({...(await switchOptions(this.flags, this.reporter, this.signal)), dir: this.instanceDir, reporter: this.reporter, retract: this.flags.retract, signal: this.signal, to: this.flags.to})
  }

  protected render(result: RollbackResult): void {
    this.out(result.message)
  }
}
