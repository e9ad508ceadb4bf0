import {AgnesCommand} from '../../base-command.js'
import type {StatusResult} from '../../lib/schedule/schedule.js'
import {scheduleFlags} from '../../flags/schedule.js'

export default class ScheduleStatus extends AgnesCommand<typeof ScheduleStatus> {
  static description = `Show this instance's upgrade schedule: which files are installed, how often, which channel, and with systemd whether the timer is enabled.

Exit 0 whether or not a schedule is installed; read "installed".`

  static examples = ['<%= config.bin %> schedule status --dir /opt/agnes', '<%= config.bin %> schedule status --json']

  static flags = {...scheduleFlags}

  protected async execute(): Promise<StatusResult> {
    const {scheduleStatus} = await import('../../lib/schedule/schedule.js')
    return scheduleStatus({dir: this.instanceDir, reporter: this.reporter, root: this.flags.root})
  }

  protected render(result: StatusResult): void {
    if (!result.installed) this.out(`No agnes schedule installed for project ${result.project} (\`agnes schedule install\` would use ${result.initSystem}).`)
    for (const schedule of result.schedules) {
      const state = schedule.initSystem === 'systemd' ? `, timer ${schedule.enabled ?? 'state unknown'}${schedule.active ? ` and ${schedule.active}` : ''}` : ''
      this.out(`${schedule.initSystem}: agnes upgrade --channel ${schedule.channel} every ${schedule.every} for ${schedule.dir}${state}`)
      for (const path of schedule.files) this.out(`  ${path}`)
    }

    for (const path of result.foreign) this.out(`Not written by agnes: ${path}`)
  }
}
