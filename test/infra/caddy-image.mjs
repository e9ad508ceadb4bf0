// Builds a FROM-scratch Caddy image from Debian 12's `caddy` package (2.6) and pushes it to the local registry,
// the way test/standin/images.mjs builds the stand-in: the binary, the libraries `ldd` lists and a CA bundle.
// Importable from tests; also a CLI that prints the image reference:
//   node test/infra/caddy-image.mjs
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {access, chmod, constants, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

export const CADDY_REPOSITORY = '127.0.0.1:5000/agnes-test/caddy'
const INPUTS_LABEL = 'org.agnes.caddy.inputs'
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'
// Where the extracted package is kept between runs (the e2e workspace is git-ignored).
const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.e2e-tmp', 'caddy-package')

const execFileAsync = promisify(execFile)

async function run(file, args, options = {}) {
  try {
    const {stdout} = await execFileAsync(file, args, {maxBuffer: 64 * 1024 * 1024, ...options})
    return stdout
  } catch (error) {
    throw new Error(`${file} ${args.join(' ')} failed: ${(error.stderr || error.message).trim()}`)
  }
}

async function isExecutable(path) {
  try {
    await access(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * The path of a Caddy 2.6 binary: the installed one, or the one from the Debian package, downloaded with
 * apt (`apt-get download` needs no root) and unpacked with dpkg-deb when this host has none.
 */
export async function caddyBinary() {
  for (const candidate of ['/usr/bin/caddy', join(PACKAGE_DIR, 'root', 'usr', 'bin', 'caddy')]) {
    if (await isExecutable(candidate)) return candidate
  }
  await rm(PACKAGE_DIR, {force: true, recursive: true})
  await mkdir(PACKAGE_DIR, {recursive: true})
  await run('apt-get', ['download', '-q', 'caddy'], {cwd: PACKAGE_DIR})
  const deb = (await readdir(PACKAGE_DIR)).find((file) => /^caddy_.*\.deb$/.test(file))
  if (!deb) throw new Error('apt-get download caddy produced no package; is the Debian bookworm source configured?')
  await run('dpkg-deb', ['-x', join(PACKAGE_DIR, deb), join(PACKAGE_DIR, 'root')])
  return join(PACKAGE_DIR, 'root', 'usr', 'bin', 'caddy')
}

/** The shared libraries `ldd` lists for a binary, including the dynamic loader. */
async function libraries(binary) {
  return (await run('ldd', [binary])).split('\n').flatMap((line) => {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line)
    return match ? [match[1]] : []
  })
}

// Same layout and defaults as the official caddy image: config from /etc/caddy/Caddyfile, state in /data and /config.
const DOCKERFILE = [
  'FROM scratch',
  'COPY rootfs/ /',
  'ENV XDG_CONFIG_HOME=/config XDG_DATA_HOME=/data PATH=/usr/bin:/bin',
  'EXPOSE 80 443',
  'WORKDIR /srv',
  'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
]

const SYSTEM_FILES = {
  'etc/passwd': 'root:x:0:0:root:/root:/sbin/nologin\n',
  'etc/group': 'root:x:0:\n',
  'etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
}

async function imageInputs(binary) {
  return [
    ['usr/bin/caddy', {source: binary, mode: 0o755}],
    ...(await libraries(binary)).map((library) => [library.slice(1), {source: library, mode: 0o755}]),
    [CA_BUNDLE.slice(1), {source: CA_BUNDLE, mode: 0o644}],
    ...Object.entries(SYSTEM_FILES).map(([path, content]) => [path, {content, mode: 0o644}]),
  ]
}

async function hashInputs(inputs) {
  const hash = createHash('sha256').update(DOCKERFILE.join('\n'))
  for (const [path, input] of inputs) {
    hash.update(`\0${path}\0${input.mode}\0`)
    hash.update(input.content ?? (await readFile(input.source)))
  }
  return hash.digest('hex').slice(0, 16)
}

async function docker(args) {
  return run('docker', args, {env: {...process.env, DOCKER_BUILDKIT: '0'}})
}

async function hasLocalImage(reference) {
  try {
    await docker(['image', 'inspect', '--format', '{{.Id}}', reference])
    return true
  } catch {
    return false
  }
}

async function inRegistry(reference) {
  const [repository, tag] = reference.split(/:(?=[^:/]+$)/)
  const slash = repository.indexOf('/')
  const response = await fetch(`http://${repository.slice(0, slash)}/v2/${repository.slice(slash + 1)}/manifests/${tag}`, {
    headers: {accept: 'application/vnd.docker.distribution.manifest.v2+json'},
    method: 'HEAD',
  })
  return response.ok
}

/**
 * Builds the Caddy image unless one with the same inputs exists, and makes sure the registry has it.
 * @returns {Promise<{reference: string, version: string, built: boolean, seconds: number}>}
 */
export async function ensureCaddyImage({repository = CADDY_REPOSITORY} = {}) {
  const started = Date.now()
  const binary = await caddyBinary()
  const version = (await run(binary, ['version'])).trim().split(/\s+/)[0]
  const inputs = await imageInputs(binary)
  const reference = `${repository}:${version.replace(/^v/, '')}-${await hashInputs(inputs)}`
  let built = false
  if (!(await hasLocalImage(reference))) {
    const context = await mkdtemp(join(tmpdir(), 'agnes-caddy-build-'))
    try {
      for (const [path, input] of inputs) {
        const target = join(context, 'rootfs', path)
        await mkdir(dirname(target), {recursive: true})
        if (input.content === undefined) await copyFile(input.source, target)
        else await writeFile(target, input.content)
        await chmod(target, input.mode)
      }
      for (const directory of ['data', 'config', 'etc/caddy', 'srv', 'tmp']) await mkdir(join(context, 'rootfs', directory), {recursive: true})
      await chmod(join(context, 'rootfs', 'tmp'), 0o1777)
      await writeFile(join(context, 'Dockerfile'), [...DOCKERFILE, `LABEL ${INPUTS_LABEL}=${reference}`, ''].join('\n'))
      await docker(['build', '--quiet', '--tag', reference, context])
      built = true
    } finally {
      await rm(context, {force: true, recursive: true})
    }
  }
  if (built || !(await inRegistry(reference))) await docker(['push', reference])
  return {built, reference, seconds: (Date.now() - started) / 1000, version}
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureCaddyImage().then(
    (result) => process.stdout.write(`${JSON.stringify(result, null, 2)}\n`),
    (error) => {
      process.stderr.write(`${error.message}\n`)
      process.exitCode = 1
    },
  )
}
