import {AgnesCommand} from '../../base-command.js'
import type {RemoveResult} from '../../lib/schedule/schedule.js'
import {scheduleFlags} from '../../flags/schedule.js'

export default class ScheduleRemove extends AgnesCommand<typeof ScheduleRemove> {
  static description = `Remove this instance's upgrade schedule: the systemd timer is disabled and the files \`agnes schedule install\` wrote are deleted.

Files at the same paths that agnes did not write are left alone. Nothing installed is not an error (exit 0).`

  static examples = ['<%= config.bin %> schedule remove --dir /opt/agnes', '<%= config.bin %> schedule remove --json']

  static flags = {...scheduleFlags}

  protected async execute(): Promise<RemoveResult> {
    const {removeSchedule} = await import('../../lib/schedule/schedule.js')
    return removeSchedule({dir: this.instanceDir, reporter: this.reporter, root: this.flags.root})
  }

  protected render(result: RemoveResult): void {
    if (result.removed.length === 0) this.out(`No agnes schedule installed for project ${result.project}.`)
    for (const path of result.removed) this.out(`removed ${path}`)
  }
}
