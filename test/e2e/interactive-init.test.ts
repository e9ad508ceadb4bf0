import {appendFileSync, existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {spawn} from 'node-pty'
import {describe, expect, it} from 'vitest'

import {binPath, transcriptFile} from '../helpers/run-cli.js'
import {instancesRoot, readEnvFile} from './fixtures.js'

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
    at = await session.expect(/Image repository/, at)
    expect(session.output).toContain('ghcr.io/keboola/agnes-the-ai-analyst')
    session.type(`127.0.0.1:5000/wizard/agnes${enter}`)
    at = await session.expect(/Which Agnes versions/, at)
    session.type(enter)
    at = await session.expect(/HTTP port/, at)
    session.type(`18555${enter}`)
    at = await session.expect(/TLS for the public address/, at)
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
    session.type(`correct horse battery${enter}`)
    at = await session.expect(/Summary/, at)
    at = await session.expect(/Admin +owner@example.com/, at)
    at = await session.expect(/Plan:/, at)
    at = await session.expect(/Write \d file\(s\)/, at)
    session.type(enter)
    at = await session.expect(/Next: .*agnes up/, at)
    expect(await session.exited()).toBe(0)
    appendFileSync(transcriptFile, `\n$ agnes init (terminal)\n${session.output}\n`)

    expect(session.output).not.toContain('correct horse battery')
    const state = JSON.parse(readFileSync(join(dir, '.agnes', 'state.json'), 'utf8'))
    expect(state).toMatchObject({adminEmail: 'owner@example.com', channel: 'stable', repository: '127.0.0.1:5000/wizard/agnes', tls: 'none'})
    expect(readEnvFile(join(dir, '.env')).AGNES_HTTP_PORT).toBe('18555')
    expect(readEnvFile(join(dir, '.agnes', 'secrets.env')).AGNES_ADMIN_PASSWORD).toBe('correct horse battery')
    expect(existsSync(join(dir, 'docker-compose.yml'))).toBe(true)
  })
})
