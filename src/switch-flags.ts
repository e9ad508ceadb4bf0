import {Flags} from '@oclif/core'

import type {Reporter} from './lib/reporter.js'
import type {CommonSwitchOptions} from './lib/upgrade/upgrade.js'

/** Flags of every command that switches the running version (upgrade, pin, rollback). */
export const switchFlags = {
  'health-timeout': Flags.integer({default: 300, description: 'Seconds the new version has to become healthy (status ok, db_schema ok).', env: 'AGNES_HEALTH_TIMEOUT', min: 1, max: 86_400}),
  smoke: Flags.boolean({allowNo: true, default: true, description: 'Gate the switch on the smoke test (--no-smoke skips it).'}),
  'smoke-settle': Flags.integer({default: 5, description: 'Seconds the smoke test waits before its final health check.', min: 0, max: 600}),
  'alert-webhook': Flags.string({description: 'Slack-compatible webhook for failure alerts ({"text": …}); no command output or secret is ever sent.', env: 'AGNES_ALERT_WEBHOOK'}),
  quiet: Flags.boolean({char: 'q', description: 'No progress lines (for cron); the result and errors are still printed.'}),
}

export async function switchOptions(flags: {'health-timeout': number; smoke: boolean; 'smoke-settle': number; 'alert-webhook'?: string}, reporter: Reporter, signal: AbortSignal): Promise<CommonSwitchOptions> {
  let smoke: CommonSwitchOptions['smoke']
  if (flags.smoke) {
    const {smokeGate} = await import('./lib/upgrade/smoke-gate.js')
    smoke = smokeGate({reporter, settleMs: flags['smoke-settle'] * 1000, signal})
  }

  if (flags['alert-webhook']) {
    const {validateHttpUrl} = await import('./lib/validate.js')
    const {registerSecret} = await import('./lib/redact.js')
    validateHttpUrl(flags['alert-webhook'], '--alert-webhook')
    // A Slack webhook URL is itself a credential.
    registerSecret(flags['alert-webhook'])
  }

  return {alertWebhook: flags['alert-webhook'], healthTimeoutMs: flags['health-timeout'] * 1000, smoke}
}
