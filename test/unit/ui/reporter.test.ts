import {Writable} from 'node:stream'
import {Chalk} from 'chalk'
import {describe, expect, it} from 'vitest'

import {LineReporter, chooseProgressStyle, logTimestamp} from '../../../src/lib/ui/reporter.js'
import {TaskListReporter} from '../../../src/lib/ui/task-list.js'

/** A stream that says it is a terminal and keeps what was written. */
function fakeTerminal(): {stream: NodeJS.WriteStream; text: () => string} {
  let written = ''
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      written += chunk.toString('utf8')
      callback()
    },
  }) as unknown as NodeJS.WriteStream
  Object.assign(stream, {columns: 120, isTTY: true, rows: 40})
  return {stream, text: () => written}
}

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string) => text.replaceAll(/\u001B\[[\d;?]*[A-Za-z]/g, '')

/** The last frame listr2 drew (each redraw starts at column 1): what stays on the screen after the list ends. */
const lastFrame = (text: string) => stripAnsi(text.slice(text.lastIndexOf('\u001B[G') + 3)).trimEnd()

describe('progress style', () => {
  const env = {}
  it('is a task list only for multi-step work on a terminal, outside CI and --json', () => {
    expect(chooseProgressStyle({env, json: false, multiStep: true, stderrTTY: true})).toBe('task-list')
    expect(chooseProgressStyle({env, json: false, multiStep: true, stderrTTY: false})).toBe('timestamped')
    expect(chooseProgressStyle({env, json: true, multiStep: true, stderrTTY: true})).toBe('timestamped')
    expect(chooseProgressStyle({env: {CI: 'true'}, json: false, multiStep: true, stderrTTY: true})).toBe('timestamped')
    expect(chooseProgressStyle({env: {TERM: 'dumb'}, json: false, multiStep: true, stderrTTY: true})).toBe('timestamped')
    expect(chooseProgressStyle({columns: 0, env, json: false, multiStep: true, stderrTTY: true})).toBe('timestamped')
    expect(chooseProgressStyle({columns: 120, env, json: false, multiStep: true, stderrTTY: true})).toBe('task-list')
    expect(chooseProgressStyle({env, json: false, multiStep: false, stderrTTY: true})).toBe('plain')
  })
})

describe('line reporter', () => {
  it('prefixes each line with a UTC timestamp to the second for a log', () => {
    const lines: string[] = []
    const reporter = new LineReporter({now: () => new Date('2026-12-01T23:40:00.123Z'), timestamps: true, write: (line) => lines.push(line)})
    reporter.progress('Pulling x…')
    reporter.warn('disk is low')
    expect(lines).toEqual(['2026-12-01T23:40:00Z Pulling x…', '2026-12-01T23:40:00Z Warning: disk is low'])
    expect(logTimestamp(new Date('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05Z')
  })

  it('writes plain lines when not timestamped', () => {
    const lines: string[] = []
    const reporter = new LineReporter({timestamps: false, write: (line) => lines.push(line)})
    reporter.progress('Summary:')
    expect(lines).toEqual(['Summary:'])
  })
})

describe('task list', () => {
  it('shows each step with its mark, the latest detail of the running one, and warnings as such', async () => {
    const terminal = fakeTerminal()
    const reporter = await TaskListReporter.create({chalk: new Chalk({level: 1}), stream: terminal.stream})
    reporter.progress('Resolving repo:stable…')
    reporter.progress('Pulling repo@sha256:abc…')
    reporter.progress('  1/3 layers ready, 5.0/20.0 MB')
    await expect.poll(() => stripAnsi(terminal.text()), {timeout: 5000}).toContain('› 1/3 layers ready, 5.0/20.0 MB')
    reporter.progress('Pulled repo@sha256:abc in 3.0 s (3 layers, 20.0 MB)')
    reporter.warn('the previous image is gone')
    reporter.progress('Starting repo@sha256:abc…')
    await reporter.close('failed')

    const frame = lastFrame(terminal.text())
    expect(frame).toMatch(/✔ Resolving repo:stable\n/)
    expect(frame).toMatch(/✔ Pulling repo@sha256:abc\n/)
    expect(frame).toMatch(/✔ Pulled repo@sha256:abc in 3.0 s \(3 layers, 20.0 MB\)\n/)
    expect(frame).toMatch(/⚠ the previous image is gone\n/)
    expect(frame).toMatch(/✖ Starting repo@sha256:abc$/)
    expect(frame).not.toContain('layers ready')
    // chalk colours the marks: green for done, red for failed.
    expect(terminal.text()).toContain('\u001B[32m✔\u001B[39m')
    expect(terminal.text()).toContain('\u001B[31m✖\u001B[39m')
  })

  it('has no colour when chalk is off, and starts a new list after a pause', async () => {
    const terminal = fakeTerminal()
    const reporter = await TaskListReporter.create({chalk: new Chalk({level: 0}), stream: terminal.stream})
    reporter.progress('Creating the first admin a@example.com…')
    await reporter.close('done')
    reporter.progress('Configuring the data source (local)…')
    await reporter.close('done')
    const text = terminal.text()
    expect(text).not.toMatch(/\u001B\[3\dm/)
    expect(stripAnsi(text)).toMatch(/✔ Creating the first admin a@example.com\n/)
    expect(lastFrame(text)).toBe('✔ Configuring the data source (local)')
  })

  it('ends a list before each prompt, so the prompt is not drawn over', async () => {
    const terminal = fakeTerminal()
    const reporter = await TaskListReporter.create({chalk: new Chalk({level: 0}), stream: terminal.stream})
    const asked: string[] = []
    const prompter = reporter.pausingDuring({
      confirm: async () => true,
      input: async ({message}) => {
        asked.push(`${lastFrame(terminal.text())} | ${message}`)
        return 'answer'
      },
      password: async () => '',
      select: async () => '' as never,
    })
    reporter.progress('Waiting for the instance…')
    expect(await prompter.input({message: 'Admin email'})).toBe('answer')
    expect(asked).toEqual(['✔ Waiting for the instance | Admin email'])
  })
})
