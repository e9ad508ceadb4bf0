import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {UpgradeResult} from '../lib/deploy/upgrade.js'
import {switchFlags, switchOptions} from '../flags/switch.js'

export default class Upgrade extends AgnesCommand<typeof Upgrade> {
  static multiStep = true

  static description = `Follow the release channel: switch to the digest the channel points at now, with automatic rollback.

Safe for cron: a lock (a second run exits 75 at once), cheap when nothing changed (no pull, no container change), deferred while a sync runs (exit 75, up to --max-defer), and a switch that either passes the health gate and the smoke test or is rolled back to the previous digest from the local image (exit 10). A digest that was rolled back is never applied again unless --force. A journal makes a killed run recoverable: the next run finishes it. Pinned instances are left alone (exit 0).

Release gates: --min-age waits until this instance has seen the channel digest at the head for that long (outcome soaking, exit 0; a head that moves restarts the clock); --window upgrades only inside a weekly window in an explicit time zone (outcome outside-window, exit 0); a digest the publisher tagged deprecated-* is never deployed without --force, and a running build that became deprecated is left for the channel head at once. Both gates may also be set per instance in .env (AGNES_MIN_AGE, AGNES_UPGRADE_WINDOW). --retract-on-failure (the canary, with push rights in the Docker config) tags a digest that was rolled back deprecated-<version> and moves the channel back to the build that runs again.

Outcomes (result.outcome): up-to-date, upgraded, pinned, deferred, locked, rolled-back, failed, soaking, outside-window, and with --check upgrade-available.`

  static examples = [
    '<%= config.bin %> upgrade --channel stable --quiet',
    '<%= config.bin %> upgrade --check --json',
    '<%= config.bin %> upgrade --channel dev --health-timeout 600 --alert-webhook-file /etc/agnes/alert-webhook',
    '<%= config.bin %> upgrade --min-age 2h --window "Mon-Fri 02:00-05:00 Europe/Prague"',
    '<%= config.bin %> upgrade --retract-on-failure --json',
    '*/5 * * * * agnes upgrade --dir /opt/agnes --channel stable --quiet --json >>/var/log/agnes-upgrade.log 2>&1',
  ]

  static flags = {
    channel: Flags.string({description: 'Channel to follow (default: the instance\'s channel); a different one switches channel.', env: 'AGNES_CHANNEL', options: ['stable', 'dev']}),
    check: Flags.boolean({description: 'Report what would happen; change nothing.'}),
    force: Flags.boolean({description: 'Apply the channel digest even if it was rolled back before or the publisher marked it deprecated.'}),
    'min-age': Flags.string({description: 'Adopt a channel digest only after this instance has seen it at the head this long (30m, 2h, 1d; 0 = at once). Default: AGNES_MIN_AGE in .env.', env: 'AGNES_MIN_AGE'}),
    window: Flags.string({description: 'Upgrade only inside this window: "<days> HH:MM-HH:MM <time zone>", e.g. "Mon-Fri 02:00-05:00 Europe/Prague". Default: AGNES_UPGRADE_WINDOW in .env.', env: 'AGNES_UPGRADE_WINDOW'}),
    'retract-on-failure': Flags.boolean({description: 'When the new digest is rolled back, tag it deprecated-<version> and move the channel back (needs push rights).', env: 'AGNES_RETRACT_ON_FAILURE'}),
    'max-defer': Flags.integer({default: 120, description: 'Minutes an upgrade may be deferred while a sync runs before it proceeds anyway.', env: 'AGNES_MAX_DEFER', min: 0}),
    ...switchFlags,
  }

  protected isQuiet(): boolean {
    return this.flags?.quiet ?? false
  }

  protected async execute(): Promise<UpgradeResult> {
    const {upgrade} = await import('../lib/deploy/upgrade.js')
    const {parseDuration} = await import('../lib/deploy/soak.js')
    const {parseWindow} = await import('../lib/deploy/window.js')
    // Bad gate syntax is refused before the lock or the registry (exit 3).
    const minAgeMs = this.flags['min-age'] === undefined ? undefined : parseDuration(this.flags['min-age'])
    const window = this.flags.window === undefined ? undefined : parseWindow(this.flags.window)
    return upgrade({
      ...(await switchOptions(this.flags, this.reporter, this.signal)),
      channel: this.flags.channel as UpgradeResult['channel'] | undefined,
      check: this.flags.check,
      dir: this.instanceDir,
      force: this.flags.force,
      maxDeferMs: this.flags['max-defer'] * 60_000,
      minAgeMs,
      retractOnFailure: this.flags['retract-on-failure'],
      window,
      reporter: this.reporter,
      signal: this.signal,
    })
  }

  protected render(result: UpgradeResult): void {
    this.out(`${result.outcome}: ${result.message}`)
  }
}
