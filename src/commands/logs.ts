import {Args, Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {InterruptedError, UsageError} from '../lib/errors.js'
import type {LogStream, LogsResult} from '../lib/logs.js'

interface LogsOutput extends LogsResult {
  /** With --json only: the lines, in the order compose printed them. */
  output?: Array<{stream: LogStream; text: string}>
}

export default class Logs extends AgnesCommand<typeof Logs> {
  static description = `Show the logs of this instance's services, with its secrets masked.

Runs Docker Compose (v2 or v1, as the other commands do) with the instance's project name, so it shows this instance and no other; every value of the instance's secrets is shown as ***. Lines a container wrote to stderr go to stderr (Compose v2 keeps them apart). --follow streams line by line until Ctrl-C, which ends it with exit 130 like any interruption. --since needs Compose v2 (Compose v1's logs has no such option).`

  static examples = [
    '<%= config.bin %> logs app --tail 100',
    '<%= config.bin %> logs --since 30m --dir /opt/agnes',
    '<%= config.bin %> logs app --follow',
    '<%= config.bin %> logs scheduler --tail 20 --json',
  ]

  static args = {
    service: Args.string({description: 'One service (app, scheduler, caddy …); default: all of them.'}),
  }

  static flags = {
    since: Flags.string({description: 'Only lines since a time: a duration (10m, 2h30m), a date (2026-05-01T08:00:00Z) or a Unix timestamp. Compose v2 only.'}),
    tail: Flags.integer({description: 'Only the last N lines of each container.', min: 0}),
    follow: Flags.boolean({char: 'f', description: 'Keep streaming new lines until Ctrl-C (exit 130).'}),
    timestamps: Flags.boolean({char: 't', description: 'Prefix each line with its time.'}),
  }

  protected async execute(): Promise<LogsOutput> {
    const json = this.jsonEnabled()
    if (json && this.flags.follow) throw new UsageError('--follow cannot be combined with --json (one JSON document is printed at the end)', {hint: 'Use --tail N --json, or --follow without --json.'})
    const {instanceLogs} = await import('../lib/logs.js')
    const output: LogsOutput['output'] = []
    // `agnes logs | head` closes stdout early: stop compose instead of crashing on EPIPE.
    const onOutputError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') this.abortController.abort(new InterruptedError('Stopped: the output was closed'))
    }

    process.stdout.on('error', onOutputError)
    try {
      const result = await instanceLogs({
        dir: this.instanceDir,
        follow: this.flags.follow,
        onLine: (text, stream) => {
          if (json) output.push({stream, text})
          else if (stream === 'stdout') this.out(text)
          else this.stderrLine(text)
        },
        service: this.args.service,
        signal: this.signal,
        since: this.flags.since,
        tail: this.flags.tail,
        timestamps: this.flags.timestamps,
      })
      return json ? {...result, output} : result
    } finally {
      process.stdout.off('error', onOutputError)
    }
  }

  protected render(result: LogsOutput): void {
    if (result.lines === 0) this.progressLine(`No log lines${result.service ? ` from ${result.service}` : ''}.`)
  }
}
