import {Flags} from '@oclif/core'

import {AgnesCommand} from '../../base-command.js'
import type {InstallResult} from '../../lib/schedule/schedule.js'
import {scheduleFlags} from '../../flags/schedule.js'

export default class ScheduleInstall extends AgnesCommand<typeof ScheduleInstall> {
  static description = `Run \`agnes upgrade\` for this instance on a schedule.

Writes a systemd service and timer when systemd is the init system (/run/systemd/system exists) and enables the timer, or an /etc/cron.d file otherwise. The files are named after the instance's Compose project, so each instance on a host has its own schedule. The service treats exit 75 (locked, deferred) as success. No secret is written: the service reads AGNES_ALERT_WEBHOOK from the optional 0600 file /etc/agnes/<project>.env, and --alert-webhook-file names a 0600 file holding the webhook URL for either init system. Running it again updates the files; a file at one of its paths that agnes did not write is never replaced (exit 7).`

  static examples = [
    '<%= config.bin %> schedule install --dir /opt/agnes',
    '<%= config.bin %> schedule install --every 15m --channel stable --alert-webhook-file /etc/agnes/webhook',
    '<%= config.bin %> schedule install --init-system cron --json',
  ]

  static flags = {
    ...scheduleFlags,
    every: Flags.string({default: '5m', description: 'How often: minutes that divide an hour (5m, 15m) or hours that divide a day (1h, 6h).'}),
    channel: Flags.string({description: "Channel the scheduled upgrade follows (default: the instance's channel).", env: 'AGNES_CHANNEL', options: ['stable', 'dev']}),
    'init-system': Flags.string({description: 'Write systemd units or a cron file (default: systemd when /run/systemd/system exists).', options: ['systemd', 'cron']}),
    'agnes-path': Flags.string({description: 'The agnes executable the schedule runs (default: this node and this agnes, resolved).'}),
    'alert-webhook-file': Flags.string({description: 'A 0600 file holding the alert webhook URL; the schedule passes its path, never the URL.', env: 'AGNES_ALERT_WEBHOOK_FILE'}),
  }

  protected async execute(): Promise<InstallResult> {
    const {installSchedule, resolveAgnesCommand} = await import('../../lib/schedule/schedule.js')
    const agnes = await resolveAgnesCommand({agnesPath: this.flags['agnes-path'], node: process.execPath, script: process.argv[1]})
    return installSchedule({
      agnes,
      alertWebhookFile: this.flags['alert-webhook-file'],
      channel: this.flags.channel as 'stable' | 'dev' | undefined,
      dir: this.instanceDir,
      every: this.flags.every,
      initSystem: this.flags['init-system'] as InstallResult['initSystem'] | undefined,
      reporter: this.reporter,
      root: this.flags.root,
    })
  }

  protected render(result: InstallResult): void {
    const unchanged = result.files.every((file) => file.action === 'unchanged')
    this.out(`${unchanged ? 'Already installed' : 'Installed'}: agnes upgrade --channel ${result.channel} every ${result.every} via ${result.initSystem} (project ${result.project}).`)
    for (const file of result.files) this.out(`  ${file.action.padEnd(9)} ${file.path}`)
    for (const path of result.removed) this.out(`  removed   ${path}`)
    if (result.initSystem === 'systemd') {
      this.out(result.enabled ? 'The timer is enabled.' : 'The timer is not enabled yet (see the warning).')
      this.out(`Alert webhook: put AGNES_ALERT_WEBHOOK=https://… in ${result.envFile} (mode 0600), or use --alert-webhook-file.`)
    } else {
      this.out(`Each run appends its JSON result to ${result.log}.`)
    }
  }
}
