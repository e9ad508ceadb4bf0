import {describe, expect, it} from 'vitest'

import {PullEvent, PullProgress, Throttle} from '../../../src/lib/docker/pull-progress.js'

// Recorded from Docker 20.10 pulling a one-layer image from the local registry, then the same image again.
const firstPull: PullEvent[] = [
  {id: '2.6.2-6fa8f51afbe267e3', status: 'Pulling from agnes-test/caddy'},
  {id: '95bf5c3a1350', progressDetail: {}, status: 'Pulling fs layer'},
  {id: '95bf5c3a1350', progressDetail: {current: 163_840, total: 14_545_931}, status: 'Downloading'},
  {id: '95bf5c3a1350', progressDetail: {}, status: 'Verifying Checksum'},
  {id: '95bf5c3a1350', progressDetail: {}, status: 'Download complete'},
  {id: '95bf5c3a1350', progressDetail: {current: 163_840, total: 14_545_931}, status: 'Extracting'},
  {id: '95bf5c3a1350', progressDetail: {current: 14_545_931, total: 14_545_931}, status: 'Extracting'},
  {id: '95bf5c3a1350', progressDetail: {}, status: 'Pull complete'},
  {status: 'Digest: sha256:4662a96aad4149d5da45aab45fc8c9d0164e99f2be6bc524f043ad3cc97300a5'},
  {status: 'Status: Downloaded newer image for 127.0.0.1:5000/agnes-test/caddy:2.6.2-6fa8f51afbe267e3'},
]

const upToDate: PullEvent[] = [
  {id: '2.6.2-6fa8f51afbe267e3', status: 'Pulling from agnes-test/caddy'},
  {status: 'Digest: sha256:4662a96aad4149d5da45aab45fc8c9d0164e99f2be6bc524f043ad3cc97300a5'},
  {status: 'Status: Image is up to date for 127.0.0.1:5000/agnes-test/caddy:2.6.2-6fa8f51afbe267e3'},
]

// Three layers: one already present, one downloading, one still waiting for its turn.
const midway: PullEvent[] = [
  {id: 'sha256:4662a96aad41', status: 'Pulling from keboola/agnes'},
  {id: 'aaaaaaaaaaaa', status: 'Already exists'},
  {id: 'bbbbbbbbbbbb', progressDetail: {}, status: 'Pulling fs layer'},
  {id: 'cccccccccccc', progressDetail: {}, status: 'Pulling fs layer'},
  {id: 'cccccccccccc', progressDetail: {}, status: 'Waiting'},
  {id: 'bbbbbbbbbbbb', progressDetail: {current: 5_000_000, total: 20_000_000}, status: 'Downloading'},
  {id: 'bbbbbbbbbbbb', progressDetail: {current: 12_500_000, total: 20_000_000}, status: 'Downloading'},
]

function replay(events: PullEvent[]): PullProgress {
  const progress = new PullProgress()
  for (const event of events) progress.add(event)
  return progress
}

describe('pull progress', () => {
  it('counts the layers of a real pull, not the "Pulling from" event, and adds up the megabytes', () => {
    const progress = replay(firstPull)
    expect(progress.layerCount).toBe(1)
    expect(progress.layersDone).toBe(1)
    expect(progress.bytesDownloaded).toBe(14_545_931)
    expect(progress.describe()).toBe('1/1 layers ready, 14.5/14.5 MB')
    expect(progress.summary()).toBe('(1 layer, 14.5 MB)')
  })

  it('shows the state of a pull under way: layers done of all, bytes downloaded of the sizes known', () => {
    const progress = replay(midway)
    expect(progress.describe()).toBe('1/3 layers ready, 12.5/20.0 MB')
  })

  it('finishes the layers of a pull that was midway', () => {
    const progress = replay([
      ...midway,
      {id: 'bbbbbbbbbbbb', status: 'Download complete'},
      {id: 'cccccccccccc', progressDetail: {current: 1_000_000, total: 3_000_000}, status: 'Downloading'},
      {id: 'cccccccccccc', status: 'Download complete'},
      {id: 'bbbbbbbbbbbb', status: 'Pull complete'},
      {id: 'cccccccccccc', status: 'Pull complete'},
    ])
    expect(progress.describe()).toBe('3/3 layers ready, 23.0/23.0 MB')
    expect(progress.summary()).toBe('(3 layers, 23.0 MB)')
  })

  it('says so when nothing had to be downloaded', () => {
    expect(replay(upToDate).summary()).toBe('(0 layers, all present already)')
    expect(replay([{id: 'aaaaaaaaaaaa', status: 'Already exists'}, {id: 'bbbbbbbbbbbb', status: 'Already exists'}]).summary()).toBe('(2 layers, all present already)')
  })
})

describe('throttle', () => {
  it('lets one line through per interval however many events arrive', () => {
    let now = 0
    const throttle = new Throttle(2000, () => now)
    const passed: number[] = []
    for (now = 0; now <= 5000; now += 100) if (throttle.due()) passed.push(now)
    expect(passed).toEqual([2000, 4000])
  })
})
