import {Flags} from '@oclif/core'

import {AgnesCommand} from '../../base-command.js'
import type {FleetStatusResult} from '../../lib/fleet/status.js'

export default class FleetStatus extends AgnesCommand<typeof FleetStatus> {
  static description = `Show every instance of the inventory: version, digest, health, channel or pin, last outcome, a pending journal, rejected digests.

Reads all instances in parallel through the system's ssh, one remote agnes per host (\`agnes fleet host-status <dir>… --json\`; \`agnes status --json\` per instance where that agnes is older). An instance that cannot be reached or read is a row with the reason, not a failure of the others. Exit 0 when every instance was read, 8 when any could not be (the JSON document lists all of them either way).`

  static examples = ['<%= config.bin %> fleet status --inventory fleet.yaml', 'AGNES_INVENTORY=/etc/agnes/fleet.yaml <%= config.bin %> fleet status --json']

  static flags = {
    inventory: Flags.string({description: 'The fleet inventory (YAML; see docs/fleet.md).', env: 'AGNES_INVENTORY', required: true}),
    parallel: Flags.integer({default: 16, description: 'Hosts read at once (and instances, on a host whose agnes predates `fleet host-status`).', max: 64, min: 1}),
  }

  protected async execute(): Promise<FleetStatusResult> {
    const {loadInventory} = await import('../../lib/fleet/inventory.js')
    const {createSshTransport} = await import('../../lib/fleet/transport.js')
    const {fleetStatus} = await import('../../lib/fleet/status.js')
    const {fleetStatusError} = await import('../../lib/fleet/errors.js')
    const inventory = await loadInventory(this.flags.inventory)
    const transport = await createSshTransport(inventory)
    const result = await fleetStatus(inventory, transport, this.flags.parallel).finally(() => transport.close())
    const failure = fleetStatusError(result)
    if (!failure) return result
    if (!this.jsonEnabled()) this.render(result)
    throw failure
  }

  protected render(result: FleetStatusResult): void {
    const header = ['NAME', 'GROUP', 'TARGET', 'VERSION', 'DIGEST', 'HEALTH', 'FOLLOWING', 'LAST', 'JOURNAL', 'REJECTED']
    const rows = result.instances.map((row) =>
      row.reachable
        ? [row.name, row.group || '-', row.target, row.version ?? '?', row.digest ? `${row.digest.slice(0, 19)}…` : '-', row.healthy ? 'healthy' : 'UNHEALTHY', row.following ?? '-', row.lastOutcome ? `${row.lastOutcome.action} ${row.lastOutcome.outcome}` : '-', row.pendingJournal ?? '-', String(row.rejected?.length ?? 0)]
        : [row.name, row.group || '-', row.target, `UNREACHABLE: ${row.problem ?? ''}`],
    )
    const widths = header.map((title, column) => Math.max(title.length, ...rows.filter((row) => column < row.length - 1).map((row) => row[column].length)))
    const line = (cells: string[]) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')
    this.out(line(header))
    for (const row of rows) this.out(line(row))
    this.out('')
    this.out(`${result.reachable} of ${result.instances.length} read, ${result.healthy} healthy${result.unreachable > 0 ? this.paint('red', `, ${result.unreachable} unreachable`) : ''}`)
  }
}
