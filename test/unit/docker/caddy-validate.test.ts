import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {validateCaddyConfig} from '../../../src/lib/docker/caddy-validate.js'
import {type CommandRunner, Compose} from '../../../src/lib/docker/compose.js'
import {EnvFile} from '../../../src/lib/instance/env-file.js'
import {DockerError, ProxyConfigError} from '../../../src/lib/errors.js'
import {instancePaths} from '../../../src/lib/instance/paths.js'
import {type Instance, type InstanceState} from '../../../src/lib/instance/state.js'

let dir: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-caddy-validate-'))
  writeFileSync(join(dir, 'docker-compose.yml'), 'services: {}\n')
  writeFileSync(join(dir, 'Caddyfile'), '{$DOMAIN} {\n}\n')
  mkdirSync(join(dir, 'static'))
  writeFileSync(join(dir, 'static', 'maintenance.html'), '<h1>soon</h1>\n')
})

afterEach(() => rmSync(dir, {force: true, recursive: true}))

function instance(env: string): Instance {
  return {env: EnvFile.parse(env), paths: instancePaths(dir), state: {project: 'agnes-test', tls: 'files'} as InstanceState}
}

/** A compose whose `run` answers as given, recording the argv. */
function compose(answer: {exitCode: number; stderr?: string}): {compose: Compose; calls: string[][]} {
  const calls: string[][] = []
  const run: CommandRunner = async (_file, args) => {
    calls.push(args)
    return {exitCode: answer.exitCode, stderr: answer.stderr ?? '', stdout: ''}
  }

  return {calls, compose: new Compose({argv: ['docker', 'compose'], flavour: 'v2', version: '2.26.1'}, {paths: instancePaths(dir), profiles: ['tls'], project: 'agnes-test'}, run)}
}

describe('validateCaddyConfig', () => {
  it('runs `caddy validate` in the caddy service with its own mounts, never starting it', async () => {
    const {calls, compose: c} = compose({exitCode: 0})
    await validateCaddyConfig(instance('CADDY_TLS=tls internal\n'), c)
    expect(calls).toHaveLength(1)
    expect(calls[0].slice(calls[0].indexOf('run'))).toEqual(['run', '--rm', '--no-deps', '-T', '--entrypoint', 'caddy', 'caddy', 'validate', '--config', '/etc/caddy/Caddyfile', '--adapter', 'caddyfile'])
  })

  it("turns Caddy's refusal into E_PROXY_CONFIG (exit 3) quoting Caddy's error", async () => {
    const stderr = '{"level":"info","msg":"using provided configuration"}\nError: adapting config using caddyfile: ambiguous site definition: agnes.example.com'
    const error = await validateCaddyConfig(instance('CADDY_TLS=tls internal\n'), compose({exitCode: 1, stderr}).compose).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ProxyConfigError)
    expect((error as ProxyConfigError).exitCode).toBe(3)
    expect((error as ProxyConfigError).message).toBe('Caddy refuses the configuration: adapting config using caddyfile: ambiguous site definition: agnes.example.com')
  })

  it('leaves an engine failure (no Caddy output) a Docker error', async () => {
    const error = await validateCaddyConfig(instance('CADDY_TLS=tls internal\n'), compose({exitCode: 1, stderr: 'Cannot connect to the Docker daemon'}).compose).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(DockerError)
  })

  it('refuses missing certificate files in cert-file mode before asking Compose anything', async () => {
    const certs = join(dir, 'my-certs')
    mkdirSync(certs)
    writeFileSync(join(certs, 'fullchain.pem'), 'x')
    const {calls, compose: c} = compose({exitCode: 0})
    const error = await validateCaddyConfig(instance(`CADDY_TLS=tls /certs/fullchain.pem /certs/privkey.pem\nAGNES_TLS_CERT_DIR=${certs}\n`), c).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ProxyConfigError)
    expect((error as ProxyConfigError).message).toBe(`the certificate file ${join(certs, 'privkey.pem')} is missing or empty`)
    expect(calls).toEqual([])
  })

  it('refuses a missing maintenance page or an empty Caddyfile', async () => {
    rmSync(join(dir, 'static', 'maintenance.html'))
    await expect(validateCaddyConfig(instance('CADDY_TLS=tls internal\n'), compose({exitCode: 0}).compose)).rejects.toThrow(/maintenance\.html is missing or empty/)
    writeFileSync(join(dir, 'static', 'maintenance.html'), 'x')
    writeFileSync(join(dir, 'Caddyfile'), '')
    await expect(validateCaddyConfig(instance('CADDY_TLS=tls internal\n'), compose({exitCode: 0}).compose)).rejects.toThrow(/Caddyfile is missing or empty/)
  })
})
