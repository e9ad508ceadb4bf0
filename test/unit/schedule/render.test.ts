// The schedule's text, without a root directory: intervals, quoting refusals, and the marker that tells
// agnes's own files from anyone else's.
import {describe, expect, it} from 'vitest'

import {ScheduleSpec, assertSafeWord, parseEvery, readMarker, renderCron, renderService, renderTimer} from '../../../src/lib/schedule/render.js'

const spec: ScheduleSpec = {agnes: ['/usr/bin/node', '/usr/local/lib/node_modules/agnes/bin/run.js'], channel: 'stable', dir: '/opt/agnes', every: '5m', project: 'agnes'}

describe('schedule text', () => {
  it.each([
    ['1m', '* * * * *', '*-*-* *:*:00'],
    ['5m', '*/5 * * * *', '*-*-* *:00/5:00'],
    ['30m', '*/30 * * * *', '*-*-* *:00/30:00'],
    ['1h', '0 * * * *', '*-*-* 00/1:00:00'],
    ['6h', '0 */6 * * *', '*-*-* 00/6:00:00'],
    ['24h', '0 0 * * *', '*-*-* 00:00:00'],
  ])('--every %s is cron "%s" and systemd OnCalendar=%s', (every, cron, calendar) => {
    expect(renderCron({...spec, every})).toContain(`\n${cron} root '/usr/bin/node' `)
    expect(renderTimer({...spec, every})).toContain(`\nOnCalendar=${calendar}\n`)
  })

  it.each(['7m', '90m', '5h', '0m', '5', 'm', '-5m', '5 m', ''])('--every %j is refused (exit 3)', (every) => {
    expect(() => parseEvery(every)).toThrow(expect.objectContaining({exitCode: 3}))
  })

  it.each(["/opt/o'brien", '/opt/50%', '/opt/$HOME', '/opt/a"b', '/opt/a;b', '/opt/a\\b', '/opt/a\nb', '/opt/`id`'])('a path such as %j is refused rather than escaped', (path) => {
    expect(() => assertSafeWord(path, 'The instance directory')).toThrow(expect.objectContaining({exitCode: 3}))
  })

  it('the service runs upgrade with the channel, treats 75 as success and passes only the path of the webhook file', () => {
    const text = renderService({...spec, alertWebhookFile: '/etc/agnes/webhook'})
    expect(text).toContain('\nExecStart=/usr/bin/node /usr/local/lib/node_modules/agnes/bin/run.js upgrade --dir /opt/agnes --channel stable --quiet --alert-webhook-file /etc/agnes/webhook\n')
    expect(text).toContain('\nSuccessExitStatus=75\n')
    expect(text).toContain('\nEnvironmentFile=-/etc/agnes/agnes.env\n')
  })

  it('reads its own marker back and nothing from other files', () => {
    expect(readMarker(renderCron(spec))).toEqual({channel: 'stable', dir: '/opt/agnes', every: '5m', project: 'agnes'})
    expect(readMarker(renderService(spec))?.project).toBe('agnes')
    expect(readMarker('*/5 * * * * root agnes upgrade\n')).toBeUndefined()
    expect(readMarker('# agnes-schedule: not json\n')).toBeUndefined()
  })
})
