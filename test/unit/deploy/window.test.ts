// `upgrade --window`: its syntax and which instants it lets an upgrade through, in explicit time zones.
import {describe, expect, it} from 'vitest'

import {isInsideWindow, nextOpening, parseWindow} from '../../../src/lib/deploy/window.js'
import {InvalidInputError} from '../../../src/lib/errors.js'

const at = (iso: string) => new Date(iso)

describe('window syntax', () => {
  it.each([
    ['Mon-Fri 02:00-05:00', /time zone is missing/],
    ['Mon-Fri 02:00-05:00 Mars/Olympus', /not a time zone/],
    ['Mon-Fro 02:00-05:00 UTC', /"Mon-Fro" is not a day/],
    ['Mon-Fri 2:00-05:00 UTC', /"2:00" is not a time of day/],
    ['Mon-Fri 02:00-25:00 UTC', /"25:00" is not a time of day/],
    ['Mon-Fri 02:00 UTC', /not a range of hours/],
    ['Mon-Fri 03:00-03:00 UTC', /starts and ends at the same time/],
    ['whenever', /three parts/],
  ])('%s is refused (exit 3) with an example', (text, says) => {
    let caught: unknown
    try {
      parseWindow(text)
    } catch (error) {
      caught = error
    }

    expect(caught).toBeInstanceOf(InvalidInputError)
    expect((caught as InvalidInputError).exitCode).toBe(3)
    expect((caught as InvalidInputError).message).toMatch(says)
    expect((caught as InvalidInputError).hint).toContain('Europe/Prague')
  })

  it('reads day lists, ranges that wrap past Sunday, and daily', () => {
    expect([...parseWindow('Mon,Wed-Thu 01:00-02:00 UTC').days].sort()).toEqual([0, 2, 3])
    expect([...parseWindow('Fri-Mon 01:00-02:00 UTC').days].sort()).toEqual([0, 4, 5, 6])
    expect(parseWindow('daily 01:00-02:00 UTC').days.size).toBe(7)
  })
})

describe('window decisions', () => {
  it('judges the clock in the window\'s own time zone (Prague is UTC+1 in winter, UTC+2 in summer)', () => {
    const window = parseWindow('Mon-Fri 02:00-05:00 Europe/Prague')
    // Tuesday 2026-12-01 01:30 UTC = 02:30 in Prague: inside; 04:30 UTC = 05:30 in Prague: outside.
    expect(isInsideWindow(window, at('2026-12-01T01:30:00Z'))).toBe(true)
    expect(isInsideWindow(window, at('2026-12-01T04:30:00Z'))).toBe(false)
    // 02:30 UTC in July is 04:30 in Prague: inside; 03:30 UTC is 05:30: outside.
    expect(isInsideWindow(window, at('2026-07-01T02:30:00Z'))).toBe(true)
    expect(isInsideWindow(window, at('2026-07-01T03:30:00Z'))).toBe(false)
    // Saturday 2026-12-05 02:30 in Prague: not a weekday.
    expect(isInsideWindow(window, at('2026-12-05T01:30:00Z'))).toBe(false)
  })

  it('the day is the local one: Monday 23:30 in New York is Tuesday in UTC', () => {
    const window = parseWindow('Mon 23:00-23:59 America/New_York')
    expect(isInsideWindow(window, at('2026-12-01T04:30:00Z'))).toBe(true)
    expect(isInsideWindow(parseWindow('Mon 23:00-23:59 UTC'), at('2026-12-01T04:30:00Z'))).toBe(false)
  })

  it('a window past midnight belongs to the day it opens', () => {
    const window = parseWindow('Fri 22:00-02:00 UTC')
    expect(isInsideWindow(window, at('2026-12-04T22:30:00Z'))).toBe(true) // Friday night
    expect(isInsideWindow(window, at('2026-12-05T01:30:00Z'))).toBe(true) // early Saturday, still Friday's window
    expect(isInsideWindow(window, at('2026-12-05T02:00:00Z'))).toBe(false) // it ends at 02:00
    expect(isInsideWindow(window, at('2026-12-05T22:30:00Z'))).toBe(false) // Saturday night
    expect(isInsideWindow(window, at('2026-12-04T01:30:00Z'))).toBe(false) // early Friday belongs to Thursday
  })

  it('names when a closed window opens next', () => {
    const window = parseWindow('Mon-Fri 02:00-05:00 Europe/Prague')
    // Saturday noon in Prague: the next opening is Monday 02:00 Prague = 01:00 UTC.
    expect(nextOpening(window, at('2026-12-05T11:00:00Z'))?.toISOString()).toBe('2026-12-07T01:00:00.000Z')
  })
})
