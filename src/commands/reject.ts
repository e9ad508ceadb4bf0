import {Args, Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {RejectResult} from '../lib/fleet/reject.js'

export default class Reject extends AgnesCommand<typeof Reject> {
  static description = `Mark an image digest rejected on this instance: \`agnes upgrade\` never applies it (unless --force).

The same list a rolled-back upgrade adds to; \`agnes fleet upgrade\` uses it to stop a bad release on every instance of the fleet. The rejection and its --reason are recorded in \`agnes history\`. Changes nothing else: the running version keeps running. Idempotent.`

  static examples = ['<%= config.bin %> reject sha256:0123…cdef --reason "crashed on the canary"', '<%= config.bin %> reject sha256:0123…cdef --dir /opt/agnes --json']

  static args = {
    digest: Args.string({description: 'The image digest (sha256:…) to reject.', required: true}),
  }

  static flags = {
    reason: Flags.string({description: 'Why: recorded with the rejection in `agnes history`, for whoever reads it later.'}),
  }

  protected async execute(): Promise<RejectResult> {
    const {rejectDigest} = await import('../lib/fleet/reject.js')
    return rejectDigest(this.instanceDir, this.args.digest, this.flags.reason)
  }

  protected render(result: RejectResult): void {
    this.out(result.message)
  }
}
