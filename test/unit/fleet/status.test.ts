import {describe, expect, it} from 'vitest'

import {fleetStatus} from '../../../src/lib/fleet/status.js'
import {FakeFleet, OLD, sixInstances} from './fake-fleet.js'

describe('fleetStatus', () => {
  it('reads each instance with one remote agnes (status carries the last history entry)', async () => {
    const fleet = new FakeFleet(sixInstances())
    fleet.host('a2').reachable = false
    const result = await fleetStatus(fleet.inventory, fleet)
    expect(fleet.calls.filter((call) => call.startsWith('c1 '))).toEqual(['c1 status'])
    expect(fleet.calls).toHaveLength(5)
    expect(result).toMatchObject({healthy: 5, reachable: 5, unreachable: 1})
    expect(result.instances[0]).toMatchObject({digest: OLD, following: 'channel stable', lastOutcome: {action: 'upgrade', outcome: 'upgraded', time: '2026-01-01T00:00:00Z'}, name: 'c1', reachable: true})
    expect(result.instances.find((row) => row.name === 'a2')).toMatchObject({problem: expect.stringContaining('Connection refused'), reachable: false})
  })
})
