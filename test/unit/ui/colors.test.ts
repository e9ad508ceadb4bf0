import {Chalk} from 'chalk'
import {describe, expect, it} from 'vitest'

import {chalkPainter, wantsColor} from '../../../src/lib/ui/colors.js'

describe('colour', () => {
  const terminal = {argv: [], env: {}, json: false, stderrTTY: true, stdoutTTY: true}

  it('is on when both ends are terminals, off without one unless FORCE_COLOR', () => {
    expect(wantsColor(terminal)).toBe(true)
    expect(wantsColor({...terminal, stdoutTTY: false})).toBe(false)
    expect(wantsColor({...terminal, stderrTTY: false, stdoutTTY: false, env: {FORCE_COLOR: '1'}})).toBe(true)
    expect(wantsColor({...terminal, stdoutTTY: false, env: {FORCE_COLOR: '0'}})).toBe(false)
  })

  it('is off under --json, --no-color, NO_COLOR and TERM=dumb, even when forced', () => {
    const forced = {FORCE_COLOR: '1'}
    expect(wantsColor({...terminal, env: forced, json: true})).toBe(false)
    expect(wantsColor({...terminal, argv: ['--no-color'], env: forced})).toBe(false)
    expect(wantsColor({...terminal, env: {...forced, NO_COLOR: '1'}})).toBe(false)
    expect(wantsColor({...terminal, env: {...forced, TERM: 'dumb'}})).toBe(false)
    expect(wantsColor({...terminal, env: {NO_COLOR: ''}})).toBe(true)
  })

  it('paints with chalk, and not at all at level 0', () => {
    expect(chalkPainter(new Chalk({level: 1}))('green', 'ok')).toBe('\u001B[32mok\u001B[39m')
    expect(chalkPainter(new Chalk({level: 1}))('dim', 'hint')).toBe('\u001B[2mhint\u001B[22m')
    expect(chalkPainter(new Chalk({level: 0}))('red', 'fail')).toBe('fail')
  })
})
