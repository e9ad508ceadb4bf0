import {appendFileSync, existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {spawn} from 'node-pty'
import {describe, expect, it} from 'vitest'

import {binPath, transcriptFile} from '../helpers/run-cli.js'
import {instancesRoot, publishStandard, readEnvFile} from './fixtures.js'

/** Drives a command in a pseudo-terminal: waits for each prompt, then types the answer. */
class TerminalSession {
  output = ''
  private exit?: {exitCode: number}
  private readonly waiters: Array<() => void> = []
  private readonly pty

  constructor(args: string[], env: Record<string, string>) {
    this.pty = spawn(process.execPath, [binPath, ...args], {cols: 220, env, name: 'xterm-256color', rows: 40})
    this.pty.onData((data) => {
      this.output += data
      for (const waiter of this.waiters.splice(0)) waiter()
    })
    this.pty.onExit((event) => {
      this.exit = event
      for (const waiter of this.waiters.splice(0)) waiter()
    })
  }

  /** Resolves once the screen shows `pattern` after `from` (so an earlier prompt cannot match again). */
  async expect(pattern: RegExp, from: number, timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const index = this.output.slice(from).search(pattern)
      if (index !== -1) return from + index + 1
      if (this.exit) throw new Error(`exited before ${pattern}:\n${this.output}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${this.output}`)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 200)
      })
    }
  }

  type(text: string): void {
    this.pty.write(text)
  }

  async exited(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs
    while (!this.exit) {
      if (Date.now() > deadline) throw new Error(`did not exit:\n${this.output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    return this.exit.exitCode
  }
}

describe('interactive init in a terminal', () => {
  it('walks through the wizard with defaults shown, summarises, confirms and writes the instance', async () => {
    const dir = join(instancesRoot, `wizard-${Date.now()}`)
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined && key !== 'CI' && !key.startsWith('AGNES_')) env[key] = value
    env.TERM = 'xterm-256color'
    const session = new TerminalSession(['init', '--dir', dir], env)
    const enter = '\r'
    let at = 0
    at = await session.expect(/sets up a new Agnes instance in .*wizard-/, at)
    at = await session.expect(/Image repository/, at)
    expect(session.output).toContain('ghcr.io/keboola/agnes-the-ai-analyst')
    expect(session.output).toMatch(/docker-compose\.override\.yml[\s\S]*Nothing is written until you confirm/)
    session.type(`127.0.0.1:5000/wizard/agnes${enter}`)
    at = await session.expect(/Which Agnes versions/, at)
    session.type(enter)
    at = await session.expect(/HTTP port/, at)
    session.type(`18555${enter}`)
    at = await session.expect(/TLS for the public address/, at)
    session.type(enter)
    at = await session.expect(/Who may reach the app port/, at)
    session.type(enter)
    at = await session.expect(/Public domain/, at)
    session.type(enter)
    at = await session.expect(/Admin email/, at)
    session.type(`not-an-email${enter}`)
    at = await session.expect(/not a valid email address/, at)
    for (let i = 0; i < 20; i++) session.type('\u007F')
    session.type(`owner@example.com${enter}`)
    at = await session.expect(/Data source/, at)
    session.type(enter)
    at = await session.expect(/App memory limit/, at)
    session.type(enter)
    at = await session.expect(/App CPU limit/, at)
    session.type(enter)
    at = await session.expect(/Admin password/, at)
    // A short password is refused where it is typed, and every earlier answer stays.
    session.type(`short${enter}`)
    at = await session.expect(/at least 8 characters/, at)
    for (let i = 0; i < 10; i++) session.type('\u007F')
    session.type(`correct horse battery${enter}`)
    at = await session.expect(/same password again/, at)
    session.type(`correct horse batterY${enter}`)
    at = await session.expect(/passwords differ/, at)
    at = await session.expect(/Admin password/, at)
    session.type(`correct horse battery${enter}`)
    at = await session.expect(/same password again/, at)
    session.type(`correct horse battery${enter}`)
    at = await session.expect(/Summary/, at)
    at = await session.expect(/every interface \(0\.0\.0\.0\)/, at)
    at = await session.expect(/Admin +owner@example.com/, at)
    at = await session.expect(/Plan:/, at)
    at = await session.expect(/Write \d file\(s\)/, at)
    session.type(enter)
    at = await session.expect(/Agnes will answer at http:\/\/.*:18555/, at)
    at = await session.expect(/Next: .*agnes up/, at)
    expect(await session.exited()).toBe(0)
    appendFileSync(transcriptFile, `\n$ agnes init (terminal)\n${session.output}\n`)

    expect(session.output).not.toContain('correct horse battery')
    const state = JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8'))
    expect(state).toMatchObject({adminEmail: 'owner@example.com', channel: 'stable', repository: '127.0.0.1:5000/wizard/agnes', tls: 'none'})
    expect(readEnvFile(join(dir, '.env')).AGNES_HTTP_PORT).toBe('18555')
    expect(readEnvFile(join(dir, '.env')).AGNES_HTTP_BIND).toBe('0.0.0.0')
    expect(readEnvFile(join(dir, '.agnes', 'secrets.env')).AGNES_ADMIN_PASSWORD).toBe('correct horse battery')
    expect(existsSync(join(dir, 'docker-compose.yml'))).toBe(true)
  })

  it('pins a version chosen from the registry, re-asks one it lacks, and binds to loopback for your own proxy', async () => {
    const {repository} = await publishStandard('wizard-pin')
    const dir = join(instancesRoot, `wizard-pin-${Date.now()}`)
    const env: Record<string, string> = {}
    for (const [key, value] of Object.entries(process.env)) if (value !== undefined && key !== 'CI' && !key.startsWith('AGNES_')) env[key] = value
    env.TERM = 'xterm-256color'
    const session = new TerminalSession(['init', '--dir', dir, '--image', repository, '--admin-email', 'owner@example.com', '--data-source', 'local', '--memory', '512m', '--cpus', '1', '--http-port', '18556', '--domain', ''], env)
    const enter = '\r'
    const down = '\u001B[B'
    let at = 0
    at = await session.expect(/Which Agnes versions/, at)
    session.type(`${down}${down}${enter}`)
    // Newest first: dev-2026.04.3, stable-2026.04.2, stable-2026.04.1, then "Another version…".
    at = await session.expect(/Version to pin \(the newest 3/, at)
    at = await session.expect(/stable-2026\.04\.1/, at)
    session.type(`${down}${down}${down}${enter}`)
    at = await session.expect(/Version to pin — a versioned tag/, at)
    session.type(`stable-2026.01.7${enter}`)
    at = await session.expect(/has no version stable-2026\.01\.7/, at)
    at = await session.expect(/Version to pin — a versioned tag/, at)
    for (let i = 0; i < 20; i++) session.type('\u007F')
    session.type(`stable-2026.04.1${enter}`)
    at = await session.expect(/TLS for the public address/, at)
    session.type(enter)
    at = await session.expect(/Who may reach the app port/, at)
    session.type(`${down}${enter}`)
    at = await session.expect(/Admin password/, at)
    session.type(enter)
    at = await session.expect(/127\.0\.0\.1:18556 only, for your own proxy/, at)
    at = await session.expect(/Write \d file\(s\)/, at)
    session.type(enter)
    at = await session.expect(/Agnes will answer at http:\/\/127\.0\.0\.1:18556/, at)
    expect(await session.exited()).toBe(0)
    expect(session.output).not.toMatch(/every interface \(0\.0\.0\.0\), over plain HTTP/)
    const state = JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8'))
    expect(state).toMatchObject({channel: 'stable', pin: 'stable-2026.04.1', repository})
    expect(readEnvFile(join(dir, '.env')).AGNES_HTTP_BIND).toBe('127.0.0.1')
  }, 120_000)
})
