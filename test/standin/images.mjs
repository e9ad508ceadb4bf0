// Builds the FROM-scratch Agnes stand-in images and publishes them to a local registry.
// Importable from tests; also a CLI:
//   node test/standin/images.mjs base
//   node test/standin/images.mjs standard 127.0.0.1:5000/agnes
//   node test/standin/images.mjs publish <repository> <tag> <version> <channel> [variant]
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

export const BASE_IMAGE = 'agnes-standin-base:latest'
export const DEFAULT_SCHEMA_VERSION = 121
export const STANDARD_RELEASES = [
  {tag: 'stable-2026.04.1', version: '0.84.1', channel: 'stable'},
  {tag: 'stable-2026.04.2', version: '0.84.2', channel: 'stable'},
  {tag: 'dev-2026.04.3', version: '0.85.0-dev', channel: 'dev'},
]
// Floating tag → the versioned tag it points at after standardSet().
export const STANDARD_ALIASES = {stable: 'stable-2026.04.2', dev: 'dev-2026.04.3'}

const INPUTS_LABEL = 'org.agnes.standin.inputs'
const STANDIN_DIR = dirname(fileURLToPath(import.meta.url))
const SCHEMA_FILE = 'openapi-subset.json'
const CURL_SHIM = 'curl-shim.cjs'
const SH_SHIM = 'sh-shim.cjs'
const APP_UID = 999
const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ')
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/

const execFileAsync = promisify(execFile)

async function docker(args, {quietFailure = false} = {}) {
  try {
    const {stdout} = await execFileAsync('docker', args, {maxBuffer: 64 * 1024 * 1024, env: {...process.env, DOCKER_BUILDKIT: '0'}})
    return stdout
  } catch (error) {
    if (quietFailure) return undefined
    throw new Error(`docker ${args.join(' ')} failed: ${(error.stderr || error.message).trim()}`)
  }
}

/** The shared libraries `ldd` lists for the node binary, including the dynamic loader. */
async function nodeLibraries() {
  const {stdout} = await execFileAsync('ldd', [process.execPath])
  return stdout.split('\n').flatMap((line) => {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line)
    return match ? [match[1]] : []
  })
}

function baseDockerfile(inputsHash) {
  return [
    'FROM scratch',
    'COPY rootfs/ /',
    `COPY --chown=${APP_UID}:${APP_UID} data/ /data/`,
    `LABEL ${INPUTS_LABEL}=${inputsHash}`,
    'ENV PATH=/usr/local/bin:/usr/bin:/bin HOME=/data DATA_DIR=/data',
    `USER ${APP_UID}:${APP_UID}`,
    'EXPOSE 8000',
    'ENTRYPOINT ["/usr/local/bin/node", "/standin/server.mjs"]',
    '',
  ].join('\n')
}

const SYSTEM_FILES = {
  'etc/passwd': `root:x:0:0:root:/root:/sbin/nologin\nagnes:x:${APP_UID}:${APP_UID}:agnes:/data:/sbin/nologin\n`,
  'etc/group': `root:x:0:\nagnes:x:${APP_UID}:\n`,
  'etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
}

/** The server's own files: every module of this folder except this one, and the OpenAPI subset. */
async function serverFiles() {
  const modules = (await readdir(STANDIN_DIR)).filter((file) => file.endsWith('.mjs') && file !== 'images.mjs')
  return [...modules.sort(), SCHEMA_FILE]
}

/** Every input of the base image, as [path in image, {source file or literal content, mode}]. */
async function baseInputs() {
  const libraries = await nodeLibraries()
  return [
    ['usr/local/bin/node', {source: process.execPath, mode: 0o755}],
    ...libraries.map((library) => [library.slice(1), {source: library, mode: 0o755}]),
    ...(await serverFiles()).map((file) => [`standin/${file}`, {source: join(STANDIN_DIR, file), mode: 0o644}]),
    ['usr/bin/curl', {source: join(STANDIN_DIR, CURL_SHIM), mode: 0o755}],
    ['bin/sh', {source: join(STANDIN_DIR, SH_SHIM), mode: 0o755}],
    ...Object.entries(SYSTEM_FILES).map(([path, content]) => [path, {content, mode: 0o644}]),
  ]
}

async function hashInputs(inputs) {
  const hash = createHash('sha256').update(baseDockerfile(''))
  for (const [path, input] of inputs) {
    hash.update(`\0${path}\0${input.mode}\0`)
    hash.update(input.content ?? (await readFile(input.source)))
  }
  return hash.digest('hex').slice(0, 32)
}

async function withTemporaryDirectory(callback) {
  const directory = await mkdtemp(join(tmpdir(), 'agnes-standin-build-'))
  try {
    return await callback(directory)
  } finally {
    await rm(directory, {recursive: true, force: true})
  }
}

/**
 * Build agnes-standin-base:latest unless an image with the same inputs hash already exists.
 * @returns {Promise<{image: string, inputsHash: string, built: boolean, seconds: number}>}
 */
export async function ensureBaseImage({force = false} = {}) {
  const started = Date.now()
  const inputs = await baseInputs()
  const inputsHash = await hashInputs(inputs)
  const existing = await docker(['image', 'inspect', '--format', `{{ index .Config.Labels "${INPUTS_LABEL}" }}`, BASE_IMAGE], {quietFailure: true})
  if (!force && existing?.trim() === inputsHash) {
    return {image: BASE_IMAGE, inputsHash, built: false, seconds: (Date.now() - started) / 1000}
  }
  await withTemporaryDirectory(async (context) => {
    for (const [path, input] of inputs) {
      const target = join(context, 'rootfs', path)
      await mkdir(dirname(target), {recursive: true})
      if (input.content === undefined) await copyFile(input.source, target)
      else await writeFile(target, input.content)
      await chmod(target, input.mode)
    }
    await mkdir(join(context, 'rootfs', 'tmp'))
    await chmod(join(context, 'rootfs', 'tmp'), 0o1777)
    await mkdir(join(context, 'data'))
    await chmod(join(context, 'data'), 0o755)
    await writeFile(join(context, 'Dockerfile'), baseDockerfile(inputsHash))
    await docker(['build', '--quiet', '--tag', BASE_IMAGE, context])
  })
  return {image: BASE_IMAGE, inputsHash, built: true, seconds: (Date.now() - started) / 1000}
}

/** '127.0.0.1:5000/team/agnes' → {registryUrl: 'http://127.0.0.1:5000', name: 'team/agnes'} */
export function parseRepository(repository) {
  const slash = repository.indexOf('/')
  const host = repository.slice(0, slash)
  if (slash <= 0 || !/[.:]|^localhost$/.test(host)) throw new Error(`Repository '${repository}' must start with a registry host, e.g. 127.0.0.1:5000/agnes`)
  return {registryUrl: `http://${host}`, name: repository.slice(slash + 1)}
}

function assertTag(tag) {
  if (!TAG_PATTERN.test(tag)) throw new Error(`Invalid image tag '${tag}'`)
}

async function registryRequest(repository, path, init = {}) {
  const {registryUrl, name} = parseRepository(repository)
  const url = `${registryUrl}/v2/${name}/${path}`
  try {
    return await fetch(url, init)
  } catch (error) {
    throw new Error(`Registry ${registryUrl} unreachable (${error.cause?.code ?? error.message}); start it with test/infra/start-docker.sh`)
  }
}

/** The registry's manifest digest for repository:tag, or null when the tag does not exist. */
export async function manifestDigest({repository, tag}) {
  assertTag(tag)
  const response = await registryRequest(repository, `manifests/${tag}`, {method: 'HEAD', headers: {accept: MANIFEST_ACCEPT}})
  if (response.status === 404) return null
  if (!response.ok) throw new Error(`HEAD ${repository}:${tag} answered HTTP ${response.status}`)
  return response.headers.get('docker-content-digest')
}

function commitShaFor(fields) {
  return createHash('sha1').update(JSON.stringify(fields)).digest('hex')
}

function envLine(env) {
  return `ENV ${Object.entries(env).map(([key, value]) => `${key}=${JSON.stringify(String(value))}`).join(' ')}`
}

/**
 * Build a variant image FROM the base with the release ENV baked in, tag it repository:tag and push it.
 * Each distinct (version, channel, tag, variant, ...) gives a distinct digest; republishing the same one
 * reuses the build cache and gives the same digest.
 * @returns {Promise<{reference: string, digest: string}>}
 */
export async function publish({repository, tag, version, channel, variant = 'ok', bootSeconds, schemaVersion = DEFAULT_SCHEMA_VERSION, extraEnv = {}}) {
  assertTag(tag)
  parseRepository(repository)
  await ensureBaseImage()
  const env = {
    AGNES_VERSION: version,
    RELEASE_CHANNEL: channel,
    AGNES_TAG: tag,
    AGNES_COMMIT_SHA: commitShaFor({version, channel, tag, variant, bootSeconds, schemaVersion, extraEnv}),
    STANDIN_VARIANT: variant,
    STANDIN_SCHEMA_VERSION: schemaVersion,
    ...(bootSeconds === undefined ? {} : {STANDIN_BOOT_SECONDS: bootSeconds}),
    ...extraEnv,
  }
  const reference = `${repository}:${tag}`
  await withTemporaryDirectory(async (context) => {
    await writeFile(join(context, 'Dockerfile'), `FROM ${BASE_IMAGE}\n${envLine(env)}\n`)
    await docker(['build', '--quiet', '--tag', reference, context])
  })
  const pushOutput = await docker(['push', reference])
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushOutput)?.[1] ?? (await manifestDigest({repository, tag}))
  if (!digest) throw new Error(`Pushed ${reference} but the registry reports no digest for it`)
  return {reference, digest}
}

/**
 * Point toTag at the manifest fromTag has (what a publisher does when it moves :stable), in the registry,
 * and retag the local image too when it exists.
 * @returns {Promise<{reference: string, digest: string}>}
 */
export async function moveTag({repository, fromTag, toTag}) {
  assertTag(fromTag)
  assertTag(toTag)
  const source = await registryRequest(repository, `manifests/${fromTag}`, {headers: {accept: MANIFEST_ACCEPT}})
  if (!source.ok) throw new Error(`${repository}:${fromTag} is not in the registry (HTTP ${source.status})`)
  const manifest = Buffer.from(await source.arrayBuffer())
  const target = await registryRequest(repository, `manifests/${toTag}`, {
    method: 'PUT',
    headers: {'content-type': source.headers.get('content-type')},
    body: manifest,
  })
  if (!target.ok) throw new Error(`Could not tag ${repository}:${toTag} (HTTP ${target.status}: ${await target.text()})`)
  await docker(['tag', `${repository}:${fromTag}`, `${repository}:${toTag}`], {quietFailure: true})
  return {reference: `${repository}:${toTag}`, digest: target.headers.get('docker-content-digest')}
}

/**
 * Delete the manifest repository:tag points at, so the version vanishes from the registry.
 * As in GHCR, this removes every tag that shares the manifest. Local images are left alone.
 * @returns {Promise<{reference: string, digest: string | null, deleted: boolean}>}
 */
export async function deleteTag({repository, tag}) {
  const reference = `${repository}:${tag}`
  const digest = await manifestDigest({repository, tag})
  if (!digest) return {reference, digest: null, deleted: false}
  const response = await registryRequest(repository, `manifests/${digest}`, {method: 'DELETE'})
  if (response.status !== 202 && response.status !== 404) {
    throw new Error(`Could not delete ${reference} (HTTP ${response.status}: ${await response.text()}); the registry needs storage.delete.enabled`)
  }
  return {reference, digest, deleted: true}
}

/**
 * Publish the standard release history: stable-2026.04.1 (0.84.1), stable-2026.04.2 (0.84.2) = :stable,
 * dev-2026.04.3 (0.85.0-dev) = :dev.
 * @returns {Promise<Record<string, string>>} tag → manifest digest
 */
export async function standardSet(repository) {
  const digests = {}
  for (const release of STANDARD_RELEASES) {
    digests[release.tag] = (await publish({repository, ...release})).digest
  }
  for (const [alias, tag] of Object.entries(STANDARD_ALIASES)) {
    digests[alias] = (await moveTag({repository, fromTag: tag, toTag: alias})).digest
  }
  return digests
}

const USAGE = `usage:
  node test/standin/images.mjs base
  node test/standin/images.mjs standard <repository>
  node test/standin/images.mjs publish <repository> <tag> <version> <channel> [variant]`

async function cli([command, ...args]) {
  const started = Date.now()
  let result
  if (command === 'base' && args.length === 0) {
    result = await ensureBaseImage()
  } else if (command === 'standard' && args.length === 1) {
    result = await standardSet(args[0])
  } else if (command === 'publish' && (args.length === 4 || args.length === 5)) {
    const [repository, tag, version, channel, variant] = args
    result = await publish({repository, tag, version, channel, variant})
  } else {
    process.stderr.write(`${USAGE}\n`)
    process.exit(2)
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(1)}s\n`)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  cli(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`${error.message}\n`)
    process.exit(1)
  })
}
