import {Args, Flags} from '@oclif/core'

import {AgnesCommand} from '../../base-command.js'
import type {Retraction} from '../../lib/deploy/retract.js'

export default class ReleaseRetract extends AgnesCommand<typeof ReleaseRetract> {
  static description = `Retract a release in the registry: tag it deprecated-<version> and move its channel back.

The publisher's rollback by hand, as \`agnes upgrade --retract-on-failure\` does on the canary: the version's digest gets the tag deprecated-YYYY.MM.N, and when its channel (stable or dev) still points at it, the channel tag is moved back to the newest older version that is not deprecated. Tags are copied as manifests through the registry API (no layer is pulled or pushed). Instances never deploy a deprecated build, and ones that run it move to the channel head on their next \`agnes upgrade\`. Needs push rights from the Docker config (\`docker login\`); without them, exit 5 and nothing changes.`

  static examples = [
    '<%= config.bin %> release retract stable-2026.05.7',
    '<%= config.bin %> release retract stable-2026.05.7 --image ghcr.io/keboola/agnes-the-ai-analyst --json',
  ]

  static args = {
    version: Args.string({description: 'The release to retract, e.g. stable-2026.05.7.', required: true}),
  }

  static flags = {
    image: Flags.string({description: "Image repository (default: the instance's, from --dir).", env: 'AGNES_IMAGE'}),
  }

  protected async execute(): Promise<Retraction & {repository: string}> {
    const {releaseRetract} = await import('../../lib/deploy/retract.js')
    return releaseRetract({dir: this.instanceDir, repository: this.flags.image, signal: this.signal, version: this.args.version})
  }

  protected render(result: Retraction & {repository: string}): void {
    this.out(`Retracted ${result.repository}:${result.version}: tagged ${result.deprecatedTag} (${result.digest.slice(0, 19)}…).`)
    if (result.channelMovedTo) this.out(`${result.channel} moved back to ${result.channelMovedTo.slice(0, 19)}….`)
    else if (result.channelHead === result.digest) this.out(`${result.channel} still points at it: no older ${result.channel} version that is not deprecated was found; move it by hand.`)
    else this.out(`${result.channel} does not point at it; left alone.`)
  }
}
