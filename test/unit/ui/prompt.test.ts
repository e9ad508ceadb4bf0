import {describe, expect, it} from 'vitest'

import {canPrompt} from '../../../src/lib/ui/prompt.js'

describe('canPrompt', () => {
  const tty = {json: false, nonInteractive: false, stdinTTY: true, stdoutTTY: true}

  it('prompts with two terminals, no CI, no --json and no --non-interactive', () => {
    expect(canPrompt({...tty, env: {}})).toBe(true)
  })

  it.each([
    ['CI=true', {CI: 'true'}, false],
    ['CI=1', {CI: '1'}, false],
    ['CI=yes', {CI: 'yes'}, false],
    ['CI=TRUE', {CI: 'TRUE'}, false],
    ['CI=false', {CI: 'false'}, true],
    ['CI=False', {CI: 'False'}, true],
    ['CI=0', {CI: '0'}, true],
    ['CI empty', {CI: ''}, true],
    ['CI unset', {}, true],
    ['unrelated variables', {TERM: 'xterm', CONTINUOUS: 'true'}, true],
  ])('%s → %s', (_label, env, expected) => {
    expect(canPrompt({...tty, env: env as NodeJS.ProcessEnv})).toBe(expected)
  })

  it.each([
    ['no stdin TTY', {stdinTTY: false}],
    ['no stdout TTY (piped output)', {stdoutTTY: false}],
    ['no TTY at all', {stdinTTY: false, stdoutTTY: false}],
    ['--json', {json: true}],
    ['--non-interactive', {nonInteractive: true}],
    ['--json and --non-interactive', {json: true, nonInteractive: true}],
  ])('never prompts with %s', (_label, override) => {
    expect(canPrompt({...tty, ...override, env: {}})).toBe(false)
  })

  it('every blocker alone is enough (full truth table)', () => {
    for (const stdinTTY of [true, false])
      for (const stdoutTTY of [true, false])
        for (const json of [true, false])
          for (const nonInteractive of [true, false])
            for (const ci of [undefined, 'true', 'false']) {
              const env: NodeJS.ProcessEnv = ci === undefined ? {} : {CI: ci}
              const expected = stdinTTY && stdoutTTY && !json && !nonInteractive && ci !== 'true'
              expect(canPrompt({env, json, nonInteractive, stdinTTY, stdoutTTY}), JSON.stringify({ci, json, nonInteractive, stdinTTY, stdoutTTY})).toBe(expected)
            }
  })

  it('falls back to process.env and the real streams when not given (vitest has no TTY on stdin)', () => {
    const expected = Boolean(process.stdin.isTTY) && Boolean(process.stdout.isTTY) && !(process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase()))
    expect(canPrompt({json: false, nonInteractive: false})).toBe(expected)
  })
})
