import {describe, expect, it} from 'vitest'

import {parseInventory} from '../../../src/lib/fleet/inventory.js'
import {fleetStatus} from '../../../src/lib/fleet/status.js'
import {FakeFleet, NEW, OLD} from './fake-fleet.js'

/** Six instances on four hosts, the instances of a host not next to each other in the file. */
const fourHosts = () =>
  parseInventory(
    `instances:
  - {name: c1, target: local, dir: /i/c1, group: canary}
  - {name: a1, target: deploy@h1, dir: /i/a1}
  - {name: a2, target: deploy@h2, dir: /i/a2}
  - {name: b1, target: deploy@h1, dir: /i/b1}
  - {name: b2, target: "deploy@h2:2222", dir: /i/b2}
  - {name: b3, target: local, dir: /i/b3}
`,
    'fleet.yaml',
  )

const names = ['c1', 'a1', 'a2', 'b1', 'b2', 'b3']

describe('fleetStatus', () => {
  it('runs one remote agnes per host for all its instances, and keeps the inventory order', async () => {
    const fleet = new FakeFleet(fourHosts())
    fleet.host('b1').digest = NEW
    const result = await fleetStatus(fleet.inventory, fleet)
    expect(fleet.calls.sort()).toEqual(['deploy@h1 fleet host-status', 'deploy@h2 fleet host-status', 'deploy@h2:2222 fleet host-status', 'local fleet host-status'])
    expect(fleet.versionAsked).toEqual([])
    expect(result).toMatchObject({healthy: 6, reachable: 6, unreachable: 0})
    expect(result.instances.map((row) => row.name)).toEqual(names)
    expect(result.instances[0]).toMatchObject({agnesVersion: '0.1.0', digest: OLD, following: 'channel stable', lastOutcome: {action: 'upgrade', outcome: 'upgraded', time: '2026-01-01T00:00:00Z'}, reachable: true, target: 'local'})
    expect(result.instances.find((row) => row.name === 'b1')).toMatchObject({digest: NEW, target: 'deploy@h1'})
  })

  it('on a host whose agnes predates fleet host-status, checks its version and reads each instance with agnes status', async () => {
    const fleet = new FakeFleet(fourHosts())
    fleet.olderAgnes.add('deploy@h1')
    const result = await fleetStatus(fleet.inventory, fleet)
    expect(fleet.calls.filter((call) => call.endsWith(' status'))).toEqual(['a1 status', 'b1 status'])
    expect(fleet.versionAsked.sort()).toEqual(['a1', 'b1'])
    expect(result.instances.map((row) => row.name)).toEqual(names)
    expect(result).toMatchObject({reachable: 6, unreachable: 0})
    // The same row either way.
    const placeless = (row: object) => ({...row, dir: '', group: '', name: '', target: ''})
    expect(placeless(result.instances[1])).toEqual(placeless(result.instances[0]))
  })

  it('reports an agnes too old for the fleet on each instance of its host', async () => {
    const fleet = new FakeFleet(fourHosts())
    fleet.host('c1').agnesVersion = '0.0.9'
    const result = await fleetStatus(fleet.inventory, fleet)
    for (const name of ['c1', 'b3']) expect(result.instances.find((row) => row.name === name), name).toMatchObject({agnesVersion: '0.0.9', problem: expect.stringContaining('older than 0.1.0'), reachable: false})
    expect(result).toMatchObject({reachable: 4, unreachable: 2})
  })

  it('reports every instance of a host ssh cannot reach, with the reason, and reads the others', async () => {
    const fleet = new FakeFleet(fourHosts())
    fleet.unreachableTargets.add('deploy@h2')
    const result = await fleetStatus(fleet.inventory, fleet)
    expect(result).toMatchObject({healthy: 5, reachable: 5, unreachable: 1})
    expect(result.instances[2]).toMatchObject({name: 'a2', problem: 'ssh to deploy@h2 failed: Connection refused', reachable: false})
    expect(fleet.calls.filter((call) => call.endsWith(' status'))).toEqual([])
  })

  it('a directory that is not an instance is its own row; the other instances of that host are read', async () => {
    const fleet = new FakeFleet(fourHosts())
    fleet.host('b1').isInstance = false
    const result = await fleetStatus(fleet.inventory, fleet)
    expect(result.instances[3]).toMatchObject({name: 'b1', problem: '/i/b1 is not an agnes instance (no .agnes/state.json)', reachable: false})
    expect(result.instances[1]).toMatchObject({digest: OLD, name: 'a1', reachable: true})
    expect(result).toMatchObject({reachable: 5, unreachable: 1})
  })

  it('has at most --parallel hosts in flight', async () => {
    const fleet = new FakeFleet(fourHosts())
    await fleetStatus(fleet.inventory, fleet, 2)
    expect(fleet.maxHostsInFlight).toBe(2)
  })
})
