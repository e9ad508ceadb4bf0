import {InterruptedError, InvalidInputError} from '../errors.js'
import {decideProject, engineComposeResources} from '../instance/project.js'
import {readSecret} from '../secrets/input.js'
import type {Reporter} from '../ui/reporter.js'
import {applyInit, withInitLock} from './apply.js'
import {planLines, summaryLines} from './format.js'
import {planInit, readExisting} from './plan.js'
import {InitFlagValues, resolveInitSettings} from './settings.js'
import type {InitSettings} from './types.js'
import {checkAdminPassword} from './validators.js'
import {WizardIo, askAdminPassword, wizardIntroduction} from './wizard.js'

export interface InitOptions {
  dir: string
  given: InitFlagValues
  secrets: {adminPasswordFile?: string; adminPasswordStdin?: boolean; keboolaTokenFile?: string; keboolaTokenStdin?: boolean}
  dryRun: boolean
  force: boolean
  yes: boolean
  project?: string
  reporter: Reporter
  /** Present only on a terminal: the wizard asks what flags did not give. */
  wizard?: WizardIo
}

export interface InitResult {
  dir: string
  dryRun: boolean
  fresh: boolean
  files: Array<{path: string; action: string; diff?: string; note?: string}>
  generatedSecrets: string[]
  /** The Compose project the instance runs as (also COMPOSE_PROJECT_NAME in .env). */
  project: string
  settings: InitSettings
  /** Where the app answers once started. */
  url: string
  next: string
}

function appUrl(settings: InitSettings): string {
  if (settings.tls !== 'none') return `https://${settings.domain}`
  const host = settings.bind === '0.0.0.0' && settings.domain ? settings.domain : '127.0.0.1'
  return `http://${host}:${settings.httpPort}`
}

/** `agnes init`: resolve the settings, plan every file, show the plan, confirm on a terminal, then write. */
export async function runInit(options: InitOptions): Promise<InitResult> {
  if (options.secrets.adminPasswordStdin && options.secrets.keboolaTokenStdin) {
    throw new InvalidInputError('--admin-password-stdin and --keboola-token-stdin cannot both read stdin', {hint: 'Give one of them through a file or an environment variable.'})
  }

  // A dry run writes nothing, not even the lock.
  return options.dryRun ? initialise(options) : withInitLock(options.dir, () => initialise(options))
}

async function initialise(options: InitOptions): Promise<InitResult> {
  const {reporter, secrets, wizard} = options
  const existing = await readExisting(options.dir)
  if (wizard) for (const line of wizardIntroduction(existing.paths.dir, existing.state === undefined)) wizard.say(line)
  const {project, warnings: projectWarnings} = await decideProject({
    current: existing.state?.project,
    dir: existing.paths.dir,
    fromEnv: existing.env?.get('COMPOSE_PROJECT_NAME'),
    listResources: engineComposeResources,
    requested: options.project,
  })
  for (const warning of projectWarnings) reporter.warn(warning)
  const settings = await resolveInitSettings(options.given, existing, wizard)

  const hasKeboolaToken = Boolean(existing.env?.get('KEBOOLA_STORAGE_TOKEN'))
  const keboolaToken =
    settings.dataSource === 'keboola'
      ? await readSecret(
          {envVar: 'AGNES_KEBOOLA_TOKEN', file: secrets.keboolaTokenFile, fileFlag: '--keboola-token-file', fromStdin: secrets.keboolaTokenStdin, label: 'Keboola Storage token', stdinFlag: '--keboola-token-stdin'},
          {prompter: wizard?.prompter, promptMessage: 'Keboola Storage token (hidden)' + (hasKeboolaToken ? ', empty keeps the current one' : ''), required: !hasKeboolaToken},
        )
      : undefined
  const givenPassword = await readSecret(
    {envVar: 'AGNES_ADMIN_PASSWORD', file: secrets.adminPasswordFile, fileFlag: '--admin-password-file', fromStdin: secrets.adminPasswordStdin, label: 'admin password', stdinFlag: '--admin-password-stdin'},
    {required: false},
  )
  const adminPassword = givenPassword === undefined ? (wizard && !existing.state ? await askAdminPassword(wizard) : undefined) : checkAdminPassword(givenPassword)

  const plan = await planInit(existing, settings, {adminPassword, keboolaToken}, {force: options.force, project})
  for (const warning of plan.warnings) reporter.warn(warning)
  if (wizard) for (const line of summaryLines(settings, project)) reporter.progress(line)
  if (!plan.fresh || options.dryRun || wizard) for (const line of planLines(plan.files)) reporter.progress(line)

  const changes = plan.files.filter((file) => file.action === 'create' || file.action === 'update')
  if (!options.dryRun && changes.length > 0 && wizard && !options.yes) {
    const go = await wizard.prompter.confirm({default: true, message: `Write ${changes.length} file(s) to ${plan.dir}?`})
    if (!go) throw new InterruptedError('Cancelled; nothing was written')
  }

  if (!options.dryRun) {
    const {validatePlannedCaddyConfig} = await import('../docker/caddy-validate.js')
    await validatePlannedCaddyConfig(plan)
    await applyInit(plan)
  }

  const dirArg = plan.dir === process.cwd() ? '' : ` --dir ${plan.dir}`
  return {
    dir: plan.dir,
    dryRun: options.dryRun,
    files: plan.files.map(({action, diff, note, path}) => ({action, path, ...(diff ? {diff} : {}), ...(note ? {note} : {})})),
    fresh: plan.fresh,
    generatedSecrets: plan.generatedSecrets,
    next: `agnes up${dirArg}`,
    project: plan.state.project,
    settings,
    url: appUrl(settings),
  }
}
