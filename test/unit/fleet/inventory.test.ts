import {describe, expect, it} from 'vitest'

import {InvalidInputError} from '../../../src/lib/errors.js'
import {parseInventory, parseTarget, waveSizeOf} from '../../../src/lib/fleet/inventory.js'
import {sshArgv, tellingLine} from '../../../src/lib/fleet/transport.js'

const GOOD = `rollout:
  soak: 15m
  pause: 30s
  parallel: 3
waves: [early, late]
instances:
  - {name: canary-1, target: deploy@canary.example.com, dir: /opt/agnes, group: canary}
  - {name: acme, target: deploy@10.0.0.7:2222, dir: /opt/agnes, group: late}
  - {name: beta, target: ops@beta.example.com, dir: /srv/agnes, group: early}
  - {name: r1, target: local, dir: /opt/r1}
  - {name: r2, target: local, dir: /opt/r2}
  - {name: r3, target: local, dir: /opt/r3}
`

function problemsOf(text: string): string {
  try {
    parseInventory(text, 'fleet.yaml')
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError)
    expect((error as InvalidInputError).exitCode).toBe(3)
    return (error as Error).message
  }

  throw new Error('the inventory was accepted')
}

describe('parseInventory', () => {
  it('orders the groups: canary, the named waves as listed, then the rest in waves of waveSize', () => {
    const inventory = parseInventory(GOOD.replace('parallel: 3', 'parallel: 3\n  waveSize: 50%'), 'fleet.yaml')
    expect(inventory.groups.map((group) => [group.name, group.instances.map((instance) => instance.name)])).toEqual([
      ['canary', ['canary-1']],
      ['early', ['beta']],
      ['late', ['acme']],
      ['rest-1', ['r1', 'r2']],
      ['rest-2', ['r3']],
    ])
    expect(inventory.rollout).toEqual({checkEveryMs: 30_000, halt: 'reject-fleet', parallel: 3, pauseMs: 30_000, retractOnFailure: true, soakMs: 900_000})
    expect(inventory.instances[1].target).toEqual({host: '10.0.0.7', kind: 'ssh', port: 2222, user: 'deploy'})
  })

  it('puts every ungrouped instance in one wave without waveSize', () => {
    const inventory = parseInventory(GOOD, 'fleet.yaml')
    expect(inventory.groups.at(-1)).toMatchObject({instances: [{name: 'r1'}, {name: 'r2'}, {name: 'r3'}], name: 'rest-1'})
  })

  it('lists every problem at once, each with its line and field', () => {
    const message = problemsOf(`rollout:
  soak: soon
  parallel: 0
instances:
  - {name: a, target: deploy@host.example.com, dir: opt/agnes}
  - {name: a, target: "-oProxyCommand=touch /tmp/x", dir: /opt/agnes}
  - {name: c, target: local, dir: /opt/../etc, colour: red}
`)
    expect(message).toContain('fleet.yaml:2: rollout.soak: "soon" is not a duration')
    expect(message).toContain('fleet.yaml:3: rollout.parallel')
    expect(message).toContain('fleet.yaml:5: instances.0.dir')
    expect(message).toContain('fleet.yaml:6: instances.1.name: the name "a" is used twice')
    expect(message).toContain('fleet.yaml:6: instances.1.target')
    expect(message).toContain('fleet.yaml:7: instances.2.dir')
    expect(message).toContain('fleet.yaml:7: instances.2.colour: unknown key')
  })

  it('reads retractOnFailure: false, and refuses what is not true or false', () => {
    expect(parseInventory(GOOD.replace('parallel: 3', 'parallel: 3\n  retractOnFailure: false'), 'fleet.yaml').rollout.retractOnFailure).toBe(false)
    expect(problemsOf(GOOD.replace('parallel: 3', 'parallel: 3\n  retractOnFailure: maybe'))).toContain('fleet.yaml:5: rollout.retractOnFailure: must be true')
  })

  it('refuses a wave that the waves list leaves out, and a bad waveSize', () => {
    expect(problemsOf(GOOD.replace('[early, late]', '[early]'))).toContain('waves: does not list the wave "late"')
    expect(problemsOf(GOOD.replace('parallel: 3', 'parallel: 3\n  waveSize: 0%'))).toContain('rollout.waveSize')
  })

  it('names the line of a YAML syntax error, and an empty inventory', () => {
    expect(problemsOf('instances:\n  - {name: a\n')).toMatch(/^fleet\.yaml:\d+: not valid YAML/)
    expect(problemsOf('instances: []\n')).toContain('needs an "instances" list')
  })
})

describe('parseTarget', () => {
  it('accepts local and user@host[:port]', () => {
    expect(parseTarget('local')).toEqual({kind: 'local'})
    expect(parseTarget('host.example.com')).toEqual({host: 'host.example.com', kind: 'ssh', port: 22, user: undefined})
  })

  it('refuses what ssh could read as an option or a second host', () => {
    for (const bad of ['-oProxyCommand=sh', 'deploy@-host', '-l root host', 'a@b@c', 'host:0', 'host:99999', 'us er@host', 'host name']) {
      expect(parseTarget(bad), bad).toBeUndefined()
    }
  })
})

describe('waveSizeOf', () => {
  it('reads a count or a percentage, at least one instance a wave', () => {
    expect(waveSizeOf(5, 20)).toBe(5)
    expect(waveSizeOf('25%', 10)).toBe(3)
    expect(waveSizeOf('1%', 10)).toBe(1)
    expect(waveSizeOf('0', 10)).toBeUndefined()
    expect(waveSizeOf('150%', 10)).toBeUndefined()
  })
})

describe('sshArgv', () => {
  const instance = {dir: "/opt/it's agnes", group: 'canary', name: 'a', target: parseTarget('deploy@host.example.com:2222')!}

  it('runs in batch mode, multiplexed, verifying host keys, with the host after -- and every remote word quoted', () => {
    const argv = sshArgv(instance, ['agnes', 'status', '--dir', instance.dir, '--json'], {controlDir: '/tmp/c', knownHosts: '/etc/agnes/known_hosts'})
    expect(argv).toContain('BatchMode=yes')
    expect(argv).toContain('ControlMaster=auto')
    expect(argv).toContain('ControlPath=/tmp/c/%C')
    expect(argv).toContain('UserKnownHostsFile=/etc/agnes/known_hosts')
    expect(argv.join(' ')).not.toMatch(/StrictHostKeyChecking/i)
    expect(argv.slice(-3)).toEqual(['--', 'host.example.com', `'agnes' 'status' '--dir' '/opt/it'\\''s agnes' '--json'`])
    expect(argv.slice(argv.indexOf('-p'), argv.indexOf('-p') + 4)).toEqual(['-p', '2222', '-l', 'deploy'])
  })
})

describe('tellingLine', () => {
  it('picks the reason out of what ssh printed, not its banner', () => {
    const stderr = '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\nHost key verification failed.\n'
    expect(tellingLine(stderr)).toBe('Host key verification failed.')
    expect(tellingLine('ssh: connect to host 10.0.0.1 port 22: Connection refused\n')).toBe('ssh: connect to host 10.0.0.1 port 22: Connection refused')
  })
})
