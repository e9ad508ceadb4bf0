import {Flags} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import type {DoctorReport} from '../lib/doctor/doctor.js'

export default class Doctor extends AgnesCommand<typeof Doctor> {
  static description = `Diagnose the host and the instance: each finding with what to do about it.

Checks, in parallel and each with a time limit: the Docker engine and Compose (flavour, version), free disk, memory, the open-file limit the engine can grant against AGNES_NOFILE, the instance's ports, the app's health, an interrupted switch (journal) or a stale lock, the last upgrade's outcome and rejected releases, the upgrade schedule, and with TLS the certificate's expiry. In a directory that is not an instance only the host is checked. Changes nothing.

Each finding is {id, status: ok|warn|fail, message, fix}. Exit 0 when nothing failed (warnings allowed); 9 when the Docker engine or Compose failed (the checks that need them could not run); 3 when any other finding failed (the host or the instance needs the fix it names). With --json the findings are in result, or in the error document's result when one failed.`

  static examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --dir /opt/agnes --json']

  static flags = {
    'schedule-root': Flags.string({
      default: '/',
      description: 'Directory the schedule files are looked for under (as `agnes schedule --root`).',
      env: 'AGNES_SCHEDULE_ROOT',
    }),
  }

  protected async execute(): Promise<DoctorReport> {
    const {doctorFailure, runDoctor} = await import('../lib/doctor/doctor.js')
    const report = await runDoctor({dir: this.instanceDir, scheduleRoot: this.flags['schedule-root'], signal: this.signal})
    const failure = doctorFailure(report)
    if (failure) {
      if (!this.jsonEnabled()) this.render(report)
      throw failure
    }

    return report
  }

  protected render(report: DoctorReport): void {
    const mark = {fail: this.paint('red', 'fail'), ok: this.paint('green', 'ok  '), warn: this.paint('yellow', 'warn')}
    const width = Math.max(...report.findings.map((finding) => finding.id.length))
    for (const finding of report.findings) {
      this.out(`${mark[finding.status]}  ${finding.id.padEnd(width)}  ${finding.message}`)
      if (finding.fix) this.out(`${' '.repeat(width + 8)}${this.paint('dim', 'fix:')} ${finding.fix}`)
    }

    const {fail, ok, warn} = report.summary
    this.out('')
    this.out(`${ok} ok, ${warn} warning${warn === 1 ? '' : 's'}, ${fail} failed${report.instance ? '' : ' (host only: not an instance)'}`)
  }
}
