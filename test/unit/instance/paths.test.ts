import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {projectArgs} from '../../../src/lib/docker/compose.js'
import {instancePaths, projectNameFor} from '../../../src/lib/instance/paths.js'

describe('projectNameFor', () => {
  it.each([
    ['/opt/Agnes Prod', 'agnes-prod'],
    ['/opt/agnes', 'agnes'],
    ['/opt/agnes/', 'agnes'],
    ['/srv/--foo', 'foo'],
    ['/srv/-p', 'p'],
    ['/srv/My.Instance_2', 'my-instance_2'],
    ['/srv/acme (staging)', 'acme-staging'],
    ['/srv/__init', 'init'],
    ['/srv/Ágnes', 'gnes'],
    ['/', 'agnes'],
    ['/srv/---', 'agnes'],
    ['/srv/___', 'agnes'],
    ['/srv/!!!', 'agnes'],
    ['/srv/日本', 'agnes'],
  ])('%j → %j', (dir, expected) => {
    expect(projectNameFor(dir)).toBe(expected)
  })

  it('uses the directory name of a relative path', () => {
    expect(projectNameFor(join('some', 'Nested Dir'))).toBe('nested-dir')
  })

  it('never starts with "-" or "_", is never empty, is at most 48 characters, and projectArgs accepts it', () => {
    const names = ['--foo', '-', '- -x', '  spaces  ', '..', '.hidden', '-_-_x', 'a'.repeat(100), `${'-'.repeat(10)}${'B'.repeat(60)}`, 'x'.repeat(47) + '--tail', '€uro', 'Ünïcödé']
    for (const name of names) {
      const project = projectNameFor(`/srv/${name}`)
      expect(project, name).toMatch(/^[a-z0-9][a-z0-9_-]*$/)
      expect(project.length, name).toBeLessThanOrEqual(48)
      const paths = instancePaths(`/nonexistent-agnes-test/${name}`)
      expect(projectArgs({paths, profiles: [], project})[1]).toBe(project)
    }
  })
})

describe('instancePaths', () => {
  it('lays the instance out as docs/architecture.md says', () => {
    const paths = instancePaths('/opt/agnes/')
    expect(paths).toMatchObject({
      agnesDir: '/opt/agnes/.agnes',
      caddyfile: '/opt/agnes/Caddyfile',
      compose: '/opt/agnes/docker-compose.yml',
      dir: '/opt/agnes',
      env: '/opt/agnes/.env',
      historyFile: '/opt/agnes/.agnes/history.jsonl',
      instanceYaml: '/opt/agnes/config/instance.yaml',
      lockFile: '/opt/agnes/.agnes/lock',
      override: '/opt/agnes/docker-compose.override.yml',
      stateFile: '/opt/agnes/.agnes/state.json',
    })
  })
})
