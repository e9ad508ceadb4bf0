import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {UpgradeResult} from '../lib/deploy/upgrade.js'
import {switchFlags, switchOptions} from '../flags/switch.js'

export default class Upgrade extends AgnesCommand<typeof Upgrade> {
  static description = `Follow the release channel: switch to the digest the channel points at now, with automatic rollback.

Safe for cron: a lock (a second run exits 75 at once), cheap when nothing changed (no pull, no container change), deferred while a sync runs (exit 75, up to --max-defer), and a switch that either passes the health gate and the smoke test or is rolled back to the previous digest from the local image (exit 10). A digest that was rolled back is never applied again unless --force. A journal makes a killed run recoverable: the next run finishes it. Pinned instances are left alone (exit 0).

Outcomes (result.outcome): up-to-date, upgraded, pinned, deferred, locked, rolled-back, failed, and with --check upgrade-available.`

  static examples = [
    '<%= config.bin %> upgrade --channel stable --quiet',
    '<%= config.bin %> upgrade --check --json',
    '<%= config.bin %> upgrade --channel dev --health-timeout 600 --alert-webhook-file /etc/agnes/alert-webhook',
    '*/5 * * * * agnes upgrade --dir /opt/agnes --channel stable --quiet --json >>/var/log/agnes-upgrade.log 2>&1',
  ]

  static flags = {
    channel: Flags.string({description: 'Channel to follow (default: the instance\'s channel); a different one switches channel.', env: 'AGNES_CHANNEL', options: ['stable', 'dev']}),
    check: Flags.boolean({description: 'Report what would happen; change nothing.'}),
    force: Flags.boolean({description: 'Apply the channel digest even if it was rolled back before.'}),
    'max-defer': Flags.integer({default: 120, description: 'Minutes an upgrade may be deferred while a sync runs before it proceeds anyway.', env: 'AGNES_MAX_DEFER', min: 0}),
    ...switchFlags,
  }

  protected isQuiet(): boolean {
    return this.flags?.quiet ?? false
  }

  protected async execute(): Promise<UpgradeResult> {
    const {upgrade} = await import('../lib/deploy/upgrade.js')
    return upgrade({
      ...(await switchOptions(this.flags, this.reporter, this.signal)),
      channel: this.flags.channel as UpgradeResult['channel'] | undefined,
      check: this.flags.check,
      dir: this.instanceDir,
      force: this.flags.force,
      maxDeferMs: this.flags['max-defer'] * 60_000,
      reporter: this.reporter,
      signal: this.signal,
    })
  }

  protected render(result: UpgradeResult): void {
    this.out(`${result.outcome}: ${result.message}`)
  }
}
