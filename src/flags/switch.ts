import {Flags} from '@oclif/core'

import type {Reporter} from '../lib/ui/reporter.js'
import type {CommonSwitchOptions} from '../lib/deploy/outcome.js'

/** Flags of every command that switches the running version (upgrade, pin, rollback). */
export const switchFlags = {
  'health-timeout': Flags.integer({default: 300, description: 'Seconds the new version has to become healthy (status ok, db_schema ok).', env: 'AGNES_HEALTH_TIMEOUT', min: 1, max: 86_400}),
  smoke: Flags.boolean({allowNo: true, default: true, description: 'Gate the switch on the smoke test (--no-smoke skips it).'}),
  'smoke-settle': Flags.integer({default: 5, description: 'Seconds the smoke test waits before its final health check.', min: 0, max: 600}),
  'alert-webhook-file': Flags.string({
    description: 'File (mode 0600) holding the https:// webhook for failure alerts, Slack-compatible {"text": …}; or set AGNES_ALERT_WEBHOOK. No command output or secret is ever sent.',
    env: 'AGNES_ALERT_WEBHOOK_FILE',
  }),
  // The webhook URL is a credential, so a value here is refused (see switchOptions) rather than used.
  'alert-webhook': Flags.string({hidden: true}),
  quiet: Flags.boolean({char: 'q', description: 'No progress lines (for cron); the result and errors are still printed.'}),
}

export async function switchOptions(flags: {'health-timeout': number; smoke: boolean; 'smoke-settle': number; 'alert-webhook'?: string; 'alert-webhook-file'?: string}, reporter: Reporter, signal: AbortSignal): Promise<CommonSwitchOptions> {
  let smoke: CommonSwitchOptions['smoke']
  if (flags.smoke) {
    const {smokeGate} = await import('../lib/deploy/smoke-gate.js')
    smoke = smokeGate({reporter, settleMs: flags['smoke-settle'] * 1000, signal})
  }

  if (flags['alert-webhook'] !== undefined) {
    const {UsageError} = await import('../lib/errors.js')
    throw new UsageError('--alert-webhook no longer takes the webhook URL: it is a credential, and a flag value shows in the process list', {
      hint: 'Set AGNES_ALERT_WEBHOOK (e.g. from a systemd EnvironmentFile), or put the URL in a file with mode 0600 and pass --alert-webhook-file <path>.',
    })
  }

  let alertWebhook: string | undefined
  if (flags['alert-webhook-file'] !== undefined || process.env.AGNES_ALERT_WEBHOOK) {
    const {readAlertWebhook} = await import('../lib/alert.js')
    alertWebhook = await readAlertWebhook({file: flags['alert-webhook-file'], reporter})
  }

  return {alertWebhook, healthTimeoutMs: flags['health-timeout'] * 1000, smoke}
}
