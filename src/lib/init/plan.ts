import {InvalidInputError} from '../errors.js'
import {parseRepository} from '../image-registry/image-ref.js'
import {managedKey, readTemplate, renderCompose, isHandEdited} from '../instance/managed-files.js'
import {InstancePaths, instancePaths} from '../instance/paths.js'
import {assertSafePath} from '../instance/safe-path.js'
import {InstanceState, parseEnv, readState, readTextIfExists} from '../instance/state.js'
import {unifiedDiff} from './diff.js'
import {imageForCompose, planEnv, planInstanceYaml} from './env-plan.js'
import type {ExistingInstance, InitPlan, InitSecrets, InitSettings, PlannedFile} from './types.js'

export async function readExisting(dir: string): Promise<ExistingInstance> {
  const paths = instancePaths(dir)
  // config/ must be a directory: it holds instance.yaml and is mounted into the app.
  await assertSafePath(paths.configDir, 'directory')
  const envText = await readTextIfExists(paths.env)
  return {
    env: envText === undefined ? undefined : parseEnv(envText, paths.env),
    instanceYaml: await readTextIfExists(paths.instanceYaml),
    paths,
    state: await readState(paths),
  }
}

async function planFile(paths: InstancePaths, file: string, content: string, mode: number, options: {managed: boolean; force: boolean; state?: InstanceState}): Promise<PlannedFile> {
  const path = managedKey(paths, file)
  const onDisk = await readTextIfExists(file)
  if (onDisk === undefined) return {action: 'create', content, mode, path}
  if (onDisk === content) return {action: 'unchanged', content, mode, path}
  if (options.managed && !options.force && (await isHandEdited(paths, options.state, file))) {
    throw new InvalidInputError(`${path} was edited by hand; init will not replace it without --force`, {
      details: {file: path},
      hint: 'Move your changes to docker-compose.override.yml (or keep a copy), then re-run with --force.',
    })
  }

  return {action: 'update', content, diff: await unifiedDiff(path, onDisk, content), mode, path}
}

/** Works out every file init would write, without writing anything. */
export async function planInit(existing: ExistingInstance, settings: InitSettings, secrets: InitSecrets, options: {force: boolean; project: string}): Promise<InitPlan> {
  const {paths} = existing
  const generated: string[] = []
  const warnings: string[] = []
  const now = new Date().toISOString()
  const state: InstanceState = {
    ...existing.state,
    adminEmail: settings.adminEmail,
    channel: settings.channel,
    createdAt: existing.state?.createdAt ?? now,
    knownGood: existing.state?.knownGood ?? [],
    managedFiles: {...existing.state?.managedFiles},
    pin: settings.pin,
    project: options.project,
    rejected: existing.state?.rejected ?? [],
    repository: settings.repository,
    stateVersion: 1,
    tls: settings.tls,
  }
  if (!settings.pin) delete state.pin

  const files: PlannedFile[] = []
  const managed = {force: options.force, managed: true, state: existing.state}
  files.push(await planFile(paths, paths.compose, await renderCompose(imageForCompose(settings, existing.state)), 0o644, managed))

  const overrideExists = (await readTextIfExists(paths.override)) !== undefined
  files.push(
    overrideExists
      ? {action: 'keep', content: '', mode: 0o644, note: 'operator-owned, never touched', path: managedKey(paths, paths.override)}
      : {action: 'create', content: await readTemplate('docker-compose.override.yml'), mode: 0o644, path: managedKey(paths, paths.override)},
  )

  const env = planEnv(existing.env, settings, secrets, options.project, generated, warnings)
  files.push(await planFile(paths, paths.env, env.toString(), 0o600, {force: true, managed: false}))
  files.push(await planFile(paths, paths.instanceYaml, await planInstanceYaml(existing.instanceYaml, settings), 0o644, {force: true, managed: false}))
  if (settings.tls !== 'none') {
    files.push(await planFile(paths, paths.caddyfile, await readTemplate('Caddyfile'), 0o644, managed))
    // Written once; the operator may brand it, so an existing page is kept.
    if ((await readTextIfExists(paths.maintenancePage)) === undefined) {
      files.push({action: 'create', content: await readTemplate('static/maintenance.html'), mode: 0o644, path: managedKey(paths, paths.maintenancePage)})
    }
  }

  if (secrets.adminPassword !== undefined) {
    const secretsText = (await readTextIfExists(paths.secretsFile)) ?? '# Secrets given to agnes init for later commands (agnes configure). Mode 0600.\n'
    const secretsEnv = parseEnv(secretsText, paths.secretsFile)
    secretsEnv.set('AGNES_ADMIN_PASSWORD', secrets.adminPassword)
    files.push(await planFile(paths, paths.secretsFile, secretsEnv.toString(), 0o600, {force: true, managed: false}))
  }

  return {dir: paths.dir, files, fresh: existing.state === undefined, generatedSecrets: generated, state, warnings}
}

/** Validates a repository for init (no tag, no digest). */
export function validateRepository(value: string, flag: string): string {
  try {
    return parseRepository(value).name
  } catch (error) {
    if (error instanceof InvalidInputError) throw new InvalidInputError(`${flag}: ${error.message}`, {hint: error.hint ?? 'Use a repository such as ghcr.io/keboola/agnes-the-ai-analyst.'})
    throw error
  }
}
