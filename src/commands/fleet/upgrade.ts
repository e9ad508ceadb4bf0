import {Flags} from '@oclif/core'

import {AgnesCommand} from '../../base-command.js'
import type {FleetUpgradeResult} from '../../lib/fleet/rollout.js'

export default class FleetUpgrade extends AgnesCommand<typeof FleetUpgrade> {
  static description = `Roll the channel's release out over the inventory: the canary first, a soak, then the waves in order.

Each instance runs its own \`agnes upgrade --channel <channel> --json\` through ssh, with its lock, health gate, smoke test and rollback. After the canary group, the rollout waits the soak time while the canary stays healthy and its smoke test passes; then the waves, with the pause between them and at most \`parallel\` instances at once. The first instance that rolls back or fails stops the rollout, and the digest is rejected on every instance (\`agnes reject\`), so no wave and no cron tick applies it. A second run resumes: instances already up to date answer at once. Ctrl-C starts no new instance and waits for those in flight.

The canary runs \`agnes upgrade --min-age 0 --retract-on-failure\`: a release it rolls back, in its own upgrade or later during the soak (\`agnes rollback --retract\`), is tagged deprecated-<version> in the registry and the channel moved back (it needs the push credentials; \`rollout.retractOnFailure: false\` in the inventory or --no-retract-on-failure turns that off).

Outcomes (result.outcome): completed (exit 0), halted (exit 10 after a rollback, 11 when an instance needs a person), incomplete (exit 75 deferred, locked or the channel moved; 8 an instance unreachable), interrupted (130).`

  static examples = [
    '<%= config.bin %> fleet upgrade --inventory fleet.yaml --channel stable',
    '<%= config.bin %> fleet upgrade --inventory fleet.yaml --channel stable --health-timeout 600 --no-retract-on-failure',
    'AGNES_INVENTORY=/etc/agnes/fleet.yaml <%= config.bin %> fleet upgrade --channel stable --json',
  ]

  static flags = {
    channel: Flags.string({description: 'The channel to roll out.', env: 'AGNES_CHANNEL', options: ['stable', 'dev'], required: true}),
    'health-timeout': Flags.integer({description: "Seconds each instance's new version has to become healthy (its `agnes upgrade --health-timeout`; default: the instance's own).", env: 'AGNES_HEALTH_TIMEOUT', max: 86_400, min: 1}),
    inventory: Flags.string({description: 'The fleet inventory (YAML; see docs/fleet.md).', env: 'AGNES_INVENTORY', required: true}),
    'retract-on-failure': Flags.boolean({allowNo: true, description: "The canary retracts a release it rolls back (default: the inventory's rollout.retractOnFailure, true unless set).", env: 'AGNES_FLEET_RETRACT_ON_FAILURE'}),
  }

  protected async execute(): Promise<FleetUpgradeResult> {
    const {loadInventory} = await import('../../lib/fleet/inventory.js')
    const {createSshTransport} = await import('../../lib/fleet/transport.js')
    const {fleetUpgrade} = await import('../../lib/fleet/rollout.js')
    const {fleetUpgradeError} = await import('../../lib/fleet/errors.js')
    const inventory = await loadInventory(this.flags.inventory)
    const transport = await createSshTransport(inventory)
    const result = await fleetUpgrade(inventory, transport, {
      channel: this.flags.channel,
      healthTimeoutSeconds: this.flags['health-timeout'],
      reporter: this.reporter,
      retractOnFailure: this.flags['retract-on-failure'],
      signal: this.signal,
    }).finally(() => transport.close())
    const failure = fleetUpgradeError(result)
    if (!failure) return result
    if (!this.jsonEnabled()) this.render(result)
    throw failure
  }

  protected render(result: FleetUpgradeResult): void {
    for (const entry of result.instances) this.out(`${entry.name.padEnd(16)} ${entry.group.padEnd(10)} ${entry.outcome}${entry.message ? `  ${entry.message}` : ''}`)
    this.out('')
    this.out(`${result.outcome}: ${result.message}`)
  }
}
