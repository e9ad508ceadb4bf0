import {Args} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {RestoreResult} from '../lib/backup/restore.js'
import {pauseFlags} from '../flags/backup.js'

export default class Restore extends AgnesCommand<typeof Restore> {
  static multiStep = true

  static description = `Restore the instance state (/data/state) from a backup listed by \`agnes backup list\`.

Takes the instance lock and checks the plan first (the backup exists and parses, the engine answers, room on disk), then stops the app gracefully, backs up the state it replaces (so \`agnes restore <that id>\` undoes the restore), restores, and starts the same deployment behind the health gate. If the restored state fails the gate, the state it replaced is put back and the app started again (exit 10); so it is after a run killed while it replaced the state, by the next \`agnes up\` or \`agnes upgrade\`. Asks for confirmation on a terminal; without one it needs --yes (exit 4 otherwise). An unknown id is exit 3.`

  static examples = ['<%= config.bin %> restore 2026-05-04T10-15-30.123Z-manual', '<%= config.bin %> restore 2026-05-04T10-15-30.123Z-manual --yes --json']

  static args = {
    id: Args.string({description: 'The backup id, as `agnes backup list` shows it.', required: true}),
  }

  static flags = {
    ...pauseFlags,
  }

  protected isQuiet(): boolean {
    return this.flags?.quiet ?? false
  }

  protected async execute(): Promise<RestoreResult> {
    const {restoreBackup} = await import('../lib/backup/restore.js')
    const {prompter} = this
    return restoreBackup({
      ask: prompter ? (message) => prompter.confirm({default: false, message}) : undefined,
      dir: this.instanceDir,
      healthTimeoutMs: this.flags['health-timeout'] * 1000,
      id: this.args.id,
      reporter: this.reporter,
      signal: this.signal,
      yes: this.flags.yes,
    })
  }

  protected render(result: RestoreResult): void {
    this.out(`Restored ${result.restored.id} (${result.restored.createdAt}); ${result.deployment.version ?? result.deployment.digest} is running and healthy.`)
    this.out(`The state it replaced is kept as ${result.kept.id}: \`agnes restore ${result.kept.id}\` undoes this restore.`)
  }
}
