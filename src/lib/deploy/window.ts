import {InvalidInputError} from '../errors.js'

/** An upgrade window: the days it opens on and its local start and end, in an explicit IANA time zone. */
export interface UpgradeWindow {
  text: string
  /** 0 = Monday … 6 = Sunday: the days the window opens (a window past midnight ends the next day). */
  days: Set<number>
  startMinute: number
  endMinute: number
  timeZone: string
}

const DAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']
const WINDOW_EXAMPLE = '"Mon-Fri 02:00-05:00 Europe/Prague"'

function windowError(text: string, problem: string): InvalidInputError {
  return new InvalidInputError(`invalid upgrade window "${text}": ${problem}`, {
    hint: `Write "<days> HH:MM-HH:MM <time zone>", e.g. ${WINDOW_EXAMPLE}, "Sat,Sun 22:00-06:00 UTC" or "daily 01:00-04:00 America/New_York".`,
  })
}

function parseDays(text: string, spec: string): Set<number> {
  const days = new Set<number>()
  if (['daily', '*'].includes(spec.toLowerCase())) return new Set([0, 1, 2, 3, 4, 5, 6])
  for (const part of spec.split(',')) {
    const [first, last = first] = part.toLowerCase().split('-')
    const from = DAY_NAMES.indexOf(first)
    const to = DAY_NAMES.indexOf(last)
    if (from < 0 || to < 0) throw windowError(text, `"${part}" is not a day or a day range (Mon, Tue, … Sun, e.g. Mon-Fri)`)
    // A range may wrap past Sunday: Fri-Mon is Fri, Sat, Sun, Mon.
    for (let day = from; ; day = (day + 1) % 7) {
      days.add(day)
      if (day === to) break
    }
  }

  return days
}

function parseMinute(text: string, clock: string): number {
  const match = /^(\d{2}):(\d{2})$/.exec(clock)
  if (!match || Number(match[1]) > 24 || Number(match[2]) > 59 || (Number(match[1]) === 24 && match[2] !== '00')) {
    throw windowError(text, `"${clock}" is not a time of day (HH:MM, 00:00 to 24:00)`)
  }

  return Number(match[1]) * 60 + Number(match[2])
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', {timeZone: zone})
    return true
  } catch {
    return false
  }
}

/** Parses `"<days> HH:MM-HH:MM <zone>"`; anything else is exit 3 with an example. */
export function parseWindow(text: string): UpgradeWindow {
  const parts = text.trim().split(/\s+/)
  if (parts.length !== 3) throw windowError(text, parts.length === 2 ? 'the time zone is missing (it must be explicit, e.g. UTC or Europe/Prague)' : 'expected three parts: days, hours and a time zone')
  const [daySpec, hours, timeZone] = parts
  const days = parseDays(text, daySpec)
  const [start, end, extra] = hours.split('-')
  if (end === undefined || extra !== undefined) throw windowError(text, `"${hours}" is not a range of hours (HH:MM-HH:MM)`)
  const startMinute = parseMinute(text, start)
  const endMinute = parseMinute(text, end)
  if (startMinute === endMinute) throw windowError(text, 'the window starts and ends at the same time')
  if (!isTimeZone(timeZone)) throw windowError(text, `"${timeZone}" is not a time zone known to this system (an IANA name such as Europe/Prague, or UTC)`)
  return {days, endMinute, startMinute, text: text.trim(), timeZone}
}

const formatters = new Map<string, Intl.DateTimeFormat>()

/** The weekday (0 = Monday) and minute of the day at `time` in the window's time zone. */
function localClock(time: Date, timeZone: string): {day: number; minute: number} {
  let format = formatters.get(timeZone)
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {hour: '2-digit', hourCycle: 'h23', minute: '2-digit', timeZone, weekday: 'short'})
    formatters.set(timeZone, format)
  }

  const parts = Object.fromEntries(format.formatToParts(time).map((part) => [part.type, part.value]))
  return {day: DAY_NAMES.indexOf(parts.weekday.toLowerCase()), minute: Number(parts.hour) * 60 + Number(parts.minute)}
}

/** Whether `time` falls inside the window; a window past midnight (22:00-02:00) belongs to the day it opens. */
export function isInsideWindow(window: UpgradeWindow, time: Date): boolean {
  const {day, minute} = localClock(time, window.timeZone)
  if (window.startMinute < window.endMinute) return window.days.has(day) && minute >= window.startMinute && minute < window.endMinute
  return (window.days.has(day) && minute >= window.startMinute) || (window.days.has((day + 6) % 7) && minute < window.endMinute)
}

/** The next minute at which the window is open, searched a week ahead (a window opens at least weekly). */
export function nextOpening(window: UpgradeWindow, from: Date): Date | undefined {
  const start = Math.ceil(from.getTime() / 60_000) * 60_000
  for (let minute = 0; minute <= 8 * 24 * 60; minute++) {
    const candidate = new Date(start + minute * 60_000)
    if (isInsideWindow(window, candidate)) return candidate
  }

  return undefined
}
