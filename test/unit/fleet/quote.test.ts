import {execFileSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'

import {shellCommandLine, shellQuote} from '../../../src/lib/fleet/quote.js'

/** What a POSIX shell makes of a command line: the words it would pass to the program. */
function wordsAsShellSeesThem(line: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], {encoding: 'utf8'})
  return out.split('\0').slice(0, -1)
}

describe('shellQuote', () => {
  const hostile = ["it's", '$(touch /tmp/pwned)', '`id`', 'a b\tc', '"double"', '\\', '; rm -rf /', '*', '~root', '-rf', '', 'line\nbreak', "''", 'ünïcode ✓']

  it('gives the remote shell exactly the words it was given, one word each', () => {
    expect(wordsAsShellSeesThem(shellCommandLine(hostile))).toEqual(hostile)
  })

  it('leaves nothing outside single quotes for the shell to expand', () => {
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`)
    expect(shellQuote('$HOME')).toBe(`'$HOME'`)
  })

  it('refuses a NUL byte, which no shell word can carry', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/)
  })
})
