import {AgnesCommand} from '../base-command.js'
import type {StatusResult} from '../lib/deploy/status.js'

export default class Status extends AgnesCommand<typeof Status> {
  static description = `Show the instance: directory, image, channel or pin, the running version and digest, containers, health.

The running digest is read from the app container's image (trust it over image_tag, which .env can override). Exit 0 whenever the instance directory could be read; look at "healthy" for the verdict.`

  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --dir /opt/agnes --json']

  protected async execute(): Promise<StatusResult> {
    const {instanceStatus} = await import('../lib/deploy/status.js')
    return instanceStatus(this.instanceDir, this.signal)
  }

  protected render(result: StatusResult): void {
    const row = (label: string, value: string) => this.out(`${label.padEnd(11)} ${value}`)
    row('Instance', `${result.dir} (project ${result.project})`)
    row('Image', result.repository)
    row('Following', result.following)
    const running = result.running
    row('Running', running ? `${running.version ?? 'unknown version'} ${running.channel ? `(${running.channel}) ` : ''}${running.digest ?? ''}`.trim() : 'nothing answers')
    if (result.recorded) row('Recorded', `${result.recorded.tag ?? ''} ${result.recorded.digest} since ${result.recorded.deployedAt}`.trim())
    const health = result.health
    row('Health', health ? `${result.healthy ? this.paint('green', 'healthy') : this.paint('red', 'unhealthy')} (status ${health.status}, db_schema ${health.db_schema})` : this.paint('red', 'no answer'))
    row('Docker', result.docker.reachable ? (result.compose ?? 'reachable') : `unreachable: ${result.docker.error}`)
    for (const container of result.containers) row('  ' + container.service, `${container.state} — ${container.status}`)
    if (result.nextSteps.length > 0) {
      this.out('')
      this.out(this.paint('yellow', result.journal?.phase === 'rollback-failed' ? 'A person is needed:' : 'Next:'))
      for (const step of result.nextSteps) this.out(`  - ${step}`)
    }
  }
}
