import {Args} from '@oclif/core'

import {AgnesCommand} from '../../base-command.js'
import type {HostStatusResult} from '../../lib/fleet/host-status.js'

export default class FleetHostStatus extends AgnesCommand<typeof FleetHostStatus> {
  static description = `Show the status of each named instance directory on this host, all read at once by one agnes.

It is what \`agnes fleet status\` runs on each host: one ssh session and one agnes for all the instances of a host. Each directory gets an entry, in the order named (a directory named twice is read twice): its \`agnes status\` result, or the error \`agnes status --dir <dir>\` gives for it (e.g. not an instance, exit 3). Exit 0 when the directories were read, whatever their entries say. The directories are the arguments; --dir is not used.`

  static examples = ['<%= config.bin %> fleet host-status /opt/agnes /opt/agnes-second', '<%= config.bin %> fleet host-status /opt/agnes /srv/agnes --json']

  static args = {
    dir: Args.string({description: 'An instance directory on this host; name as many as there are.', required: true}),
  }

  static strict = false

  protected async execute(): Promise<HostStatusResult> {
    const {UsageError} = await import('../../lib/errors.js')
    const {hostStatus} = await import('../../lib/fleet/host-status.js')
    // oclif's `argv` reorders repeated words; its raw tokens keep the order named.
    const {raw} = await this.parse(FleetHostStatus)
    const dirs = raw.filter((token) => token.type === 'arg').map((token) => token.input)
    // Without strict parsing an unknown flag arrives as an argument: refuse it rather than read it as a path.
    const flagLike = dirs.find((dir) => dir.startsWith('-'))
    if (flagLike !== undefined) throw new UsageError(`Unknown flag ${flagLike.split('=')[0]}`, {hint: 'Name the instance directories as arguments (`./-dir` for one that starts with a dash). See `agnes fleet host-status --help`.'})
    return hostStatus(dirs, {agnesVersion: this.config.version, signal: this.signal})
  }

  protected render(result: HostStatusResult): void {
    for (const entry of result.instances) {
      if (!entry.ok) {
        this.out(`${entry.dir}  ${this.paint('red', 'ERROR')} ${entry.error.message}`)
        continue
      }

      const {following, healthy, recorded, running} = entry.result
      const version = running?.version ?? recorded?.version ?? recorded?.tag ?? 'unknown version'
      const digest = running?.digest ?? recorded?.digest
      this.out(`${entry.dir}  ${healthy ? this.paint('green', 'healthy') : this.paint('red', 'UNHEALTHY')}  ${version}${digest ? ` ${digest.slice(0, 19)}…` : ''}  ${following}`)
    }
  }
}
