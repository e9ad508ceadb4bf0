import {describe, expect, it} from 'vitest'

import {EnvFile, EnvFileError, formatEnvValue} from '../../../src/lib/instance/env-file.js'
import {InvalidInputError} from '../../../src/lib/errors.js'
import {parseEnv} from '../../../src/lib/instance/state.js'

/**
 * A small reference reader for what Docker Compose v2 (compose-spec/compose-go, dotenv/parser.go) makes of
 * a .env text. It models the rules that matter for values agnes writes:
 * - single quotes: the content is literal; the value ends at the first `'` that is not preceded by `\`;
 * - double quotes: the value ends at the first `"` not preceded by `\`; then `\\ \" \$ \n \t ...` escapes
 *   are expanded and `$VAR`, `${VAR}` are interpolated (`\$` and `$$` give a literal `$`);
 * - unquoted: up to the end of the line, cut at ` #`, right-trimmed, then interpolated;
 * - after a closing quote only whitespace and a `#` comment may follow on that line;
 * - the last definition of a key wins.
 */
function composeV2Read(text: string, environment: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {}
  const lookup = (name: string) => out[name] ?? environment[name] ?? ''
  const interpolate = (value: string) =>
    value.replace(/\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, all: string, braced?: string, bare?: string) =>
      all === '$' ? '$' : lookup((braced ?? bare) as string),
    )
  const escapes: Record<string, string> = {'"': '"', $: '$$', '\\': '\\', a: '\u0007', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v'}
  let rest = text.replace(/\r\n/g, '\n')
  for (;;) {
    rest = rest.replace(/^\s+/, '')
    if (rest === '') break
    if (rest.startsWith('#')) {
      const nl = rest.indexOf('\n')
      rest = nl === -1 ? '' : rest.slice(nl)
      continue
    }

    rest = rest.replace(/^export\s+/, '')
    const key = /^([A-Za-z0-9_.-]+)\s*=[ \t]*/.exec(rest)
    if (!key) throw new Error(`compose: cannot parse statement near ${JSON.stringify(rest.slice(0, 20))}`)
    rest = rest.slice(key[0].length)
    const quote = rest[0]
    if (quote === '"' || quote === "'") {
      let end = -1
      for (let i = 1; i < rest.length; i++) {
        if (rest[i] === quote && rest[i - 1] !== '\\') {
          end = i
          break
        }
      }

      if (end === -1) throw new Error(`compose: unterminated quoted value for ${key[1]}`)
      const inner = rest.slice(1, end)
      out[key[1]] = quote === "'" ? inner : interpolate(inner.replace(/\\([abfnrtv$"\\])/g, (_m, ch: string) => escapes[ch]))
      rest = rest.slice(end + 1)
      const nl = rest.indexOf('\n')
      const tail = (nl === -1 ? rest : rest.slice(0, nl)).trim()
      if (tail !== '' && !tail.startsWith('#')) throw new Error(`compose: unexpected text after the quoted value of ${key[1]}`)
      rest = nl === -1 ? '' : rest.slice(nl)
    } else {
      const nl = rest.indexOf('\n')
      const line = nl === -1 ? rest : rest.slice(0, nl)
      const comment = line.indexOf(' #')
      out[key[1]] = interpolate((comment === -1 ? line : line.slice(0, comment)).trimEnd())
      rest = nl === -1 ? '' : rest.slice(nl)
    }
  }

  return out
}

/** Every kind of character that broke the real upgrade script, and then some. */
const TRICKY_VALUES = [
  'plain',
  '',
  'with space',
  'p$ss',
  '$HOME',
  '${HOME}',
  '$$double',
  'back`tick`',
  '`rm -rf /`',
  'dq"inside',
  '"fully double quoted"',
  "sq'inside",
  "'fully single quoted'",
  `both'and"quotes`,
  `it's $HOME and \`whoami\` "q" \\n`,
  'hash # inside',
  '#leading-hash',
  'no-space#hash',
  'trailing space ',
  ' leading space',
  'a=b=c',
  'tab\there',
  'back\\slash',
  'C:\\Program Files\\agnes',
  "mixed'\\$PATH",
  'unicode é ✓ 日本',
  'https://connection.keboola.com',
  '123-456-abcdefABCDEF',
  'ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=',
  'semi;colon&amp|pipe',
  '*glob?[x]',
]

describe('EnvFile round trip', () => {
  const sample = [
    '# Agnes settings',
    '',
    'export EXPORTED=one',
    'PLAIN=two',
    '   # indented comment',
    "SINGLE='three $NOT_EXPANDED'",
    'DOUBLE="four \\"quoted\\""',
    'OPERATOR_KEY=mine  # keep this comment',
    '',
    '',
    'LAST=end',
  ].join('\n')

  it('reproduces comments, blank lines, order, export prefixes and unknown keys byte for byte', () => {
    expect(EnvFile.parse(sample + '\n').toString()).toBe(sample + '\n')
    // And without a trailing newline, it does not invent one.
    expect(EnvFile.parse(sample).toString()).toBe(sample)
    // Trailing blank lines survive.
    expect(EnvFile.parse(sample + '\n\n\n').toString()).toBe(sample + '\n\n\n')
  })

  it('reads the values of every kind of line', () => {
    const env = EnvFile.parse(sample)
    expect(env.toObject()).toEqual({
      DOUBLE: 'four "quoted"',
      EXPORTED: 'one',
      LAST: 'end',
      OPERATOR_KEY: 'mine',
      PLAIN: 'two',
      SINGLE: 'three $NOT_EXPANDED',
    })
    expect(env.keys()).toEqual(['EXPORTED', 'PLAIN', 'SINGLE', 'DOUBLE', 'OPERATOR_KEY', 'LAST'])
    expect(env.has('PLAIN')).toBe(true)
    expect(env.has('MISSING')).toBe(false)
    expect(env.get('MISSING')).toBeUndefined()
  })

  it('keeps every other line untouched when one key is changed', () => {
    const env = EnvFile.parse(sample + '\n')
    env.set('PLAIN', 'changed')
    const expected = sample.replace('PLAIN=two', 'PLAIN=changed') + '\n'
    expect(env.toString()).toBe(expected)
  })

  it('parses an empty file and writes nothing back', () => {
    const env = EnvFile.parse('')
    expect(env.keys()).toEqual([])
    expect(env.toString()).toBe('')
  })
})

describe('EnvFile.set', () => {
  // Compose reads the last definition of a key, so agnes reads and updates that one too.
  it('updates the last definition in place (the one Compose reads) and leaves an earlier duplicate alone', () => {
    const env = EnvFile.parse('A=1\nB=2\nA=3\n')
    expect(env.get('A')).toBe('3')
    env.set('A', 'new')
    expect(env.toString()).toBe('A=1\nB=2\nA=new\n')
    expect(env.get('A')).toBe('new')
    expect(env.toObject()).toEqual({A: 'new', B: '2'})
  })

  it('lists keys defined more than once with their line numbers', () => {
    const env = EnvFile.parse('# c\nA=1\nB=2\nA=3\n\nexport A=4\nB=5\nC=6\n')
    expect(env.duplicates()).toEqual([
      {key: 'A', lines: [2, 4, 6]},
      {key: 'B', lines: [3, 7]},
    ])
    expect(EnvFile.parse('A=1\nB=2\n').duplicates()).toEqual([])
  })

  it('appends a new key at the end, optionally under a comment', () => {
    const env = EnvFile.parse('# head\nA=1\n')
    env.set('B', 'two')
    env.set('C', 'three', 'Section C')
    expect(env.toString()).toBe('# head\nA=1\nB=two\n# Section C\nC=three\n')
  })

  it('does not rewrite a line whose value is already the same (keeps the operator formatting)', () => {
    const text = 'A="x"\nexport B=\'y\'\nC=z   # note\n'
    const env = EnvFile.parse(text)
    env.set('A', 'x')
    env.set('B', 'y')
    env.set('C', 'z')
    expect(env.toString()).toBe(text)
  })

  it('rejects an invalid key and a multi-line value', () => {
    const env = EnvFile.parse('')
    expect(() => env.set('1BAD', 'x')).toThrow(/invalid .env key/)
    expect(() => env.set('BAD-KEY', 'x')).toThrow(/invalid .env key/)
    expect(() => env.set('A', 'two\nlines')).toThrow(/span lines/)
    expect(env.toString()).toBe('')
  })

  it('appendRaw adds comment and blank lines verbatim', () => {
    const env = EnvFile.parse('A=1\n')
    env.appendRaw('')
    env.appendRaw('# --- Section ---')
    env.set('B', '2')
    expect(env.toString()).toBe('A=1\n\n# --- Section ---\nB=2\n')
  })
})

describe('formatEnvValue', () => {
  it('leaves simple values unquoted', () => {
    expect(formatEnvValue('abc123')).toBe('abc123')
    expect(formatEnvValue('https://x.example.com/a')).toBe('https://x.example.com/a')
    expect(formatEnvValue('')).toBe('')
    expect(formatEnvValue('ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=')).toBe('ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=')
  })

  it('single-quotes anything that needs quoting and holds no single quote (literal in Compose)', () => {
    expect(formatEnvValue('p$ss')).toBe("'p$ss'")
    expect(formatEnvValue('a b')).toBe("'a b'")
    expect(formatEnvValue('x # y')).toBe("'x # y'")
    expect(formatEnvValue('`cmd`')).toBe("'`cmd`'")
    expect(formatEnvValue('say "hi"')).toBe(`'say "hi"'`)
  })

  it('double-quotes a value with a single quote, escaping \\, " and $', () => {
    expect(formatEnvValue(`it's "$x" \\ y`)).toBe(`"it's \\"\\$x\\" \\\\ y"`)
  })

  it('refuses a value ending in a backslash that no quoting can carry', () => {
    expect(() => formatEnvValue('a b\\')).toThrow(/backslash/)
  })

  it('never leaves a $ where Compose would interpolate it', () => {
    for (const value of TRICKY_VALUES) {
      const formatted = formatEnvValue(value)
      if (formatted.startsWith("'")) continue
      // Outside single quotes every $ must be escaped.
      expect(formatted.replace(/\\\$/g, '')).not.toContain('$')
    }
  })

  it.each(TRICKY_VALUES.map((value) => [JSON.stringify(value), value]))('%s reads back identically through EnvFile', (_label, value) => {
    const env = EnvFile.parse('# header\n')
    env.set('KEY', value)
    env.set('AFTER', 'sentinel')
    const reread = EnvFile.parse(env.toString())
    expect(reread.get('KEY')).toBe(value)
    expect(reread.get('AFTER')).toBe('sentinel')
  })

  it.each(TRICKY_VALUES.map((value) => [JSON.stringify(value), value]))('%s reads back identically through Docker Compose v2 rules', (_label, value) => {
    const env = EnvFile.parse('HOME_LIKE=/root\n')
    env.set('KEY', value)
    env.set('AFTER', 'sentinel')
    // HOME and PATH exist in the environment: an unescaped $HOME would be expanded, not kept.
    expect(composeV2Read(env.toString(), {HOME: '/home/op', PATH: '/usr/bin'})).toEqual({AFTER: 'sentinel', HOME_LIKE: '/root', KEY: value})
  })

  it('reads back a value ending with a backslash identically through Docker Compose v2 rules', () => {
    // Compose v2 treats a quote preceded by a backslash as escaped, so `'dir\'` never terminates.
    for (const value of ['C:\\data\\', "it's\\"]) {
      const env = EnvFile.parse('')
      env.set('KEY', value)
      expect(EnvFile.parse(env.toString()).get('KEY')).toBe(value)
      expect(composeV2Read(env.toString())).toEqual({KEY: value})
    }
  })

  it('the reference Compose reader itself interpolates where Compose does (so the checks above can fail)', () => {
    expect(composeV2Read('A=$HOME\nB="$HOME"\nC=\'$HOME\'\nD="\\$HOME"\n', {HOME: '/h'})).toEqual({A: '/h', B: '/h', C: '$HOME', D: '$HOME'})
    expect(() => composeV2Read("A='x\\'\n")).toThrow(/unterminated/)
  })
})

describe('EnvFile.parse: values', () => {
  it('never evaluates variables, command substitutions or the process environment', () => {
    const env = EnvFile.parse(['A=1', 'B=$A', 'C=${A}', 'D="$A"', "E='$A'", 'H=$HOME', 'W=`whoami`', 'S=$(id -u)'].join('\n'))
    expect(env.get('B')).toBe('$A')
    expect(env.get('C')).toBe('${A}')
    expect(env.get('D')).toBe('$A')
    expect(env.get('E')).toBe('$A')
    expect(env.get('H')).toBe('$HOME')
    expect(env.get('W')).toBe('`whoami`')
    expect(env.get('S')).toBe('$(id -u)')
  })

  it('strips an inline comment after whitespace on an unquoted value only', () => {
    const env = EnvFile.parse(['A=value # comment', 'B=value\t# tab comment', 'C=value#not-a-comment', 'D="v # kept"', "E='v # kept'", 'F=  spaced  '].join('\n'))
    expect(env.get('A')).toBe('value')
    expect(env.get('B')).toBe('value')
    expect(env.get('C')).toBe('value#not-a-comment')
    expect(env.get('D')).toBe('v # kept')
    expect(env.get('E')).toBe('v # kept')
    expect(env.get('F')).toBe('spaced')
  })

  it('accepts a quoted value followed by an inline comment, as Docker Compose does', () => {
    const text = 'A="quoted" # why this value\nB=\'single\'   # note\n'
    expect(composeV2Read(text)).toEqual({A: 'quoted', B: 'single'})
    const env = EnvFile.parse(text)
    expect(env.get('A')).toBe('quoted')
    expect(env.get('B')).toBe('single')
    expect(env.toString()).toBe(text)
  })

  it('unescapes \\" \\\\ \\$ and \\n in double quotes but nothing in single quotes', () => {
    const env = EnvFile.parse(['A="a\\"b\\\\c\\$d\\ne"', "B='a\\\"b\\\\c\\$d\\ne'"].join('\n'))
    expect(env.get('A')).toBe('a"b\\c$d\ne')
    expect(env.get('B')).toBe('a\\"b\\\\c\\$d\\ne')
  })

  it('handles an export prefix with several spaces and spaces around the key', () => {
    const env = EnvFile.parse('export   A=1\n  B = 2\n')
    expect(env.get('A')).toBe('1')
    expect(env.get('B')).toBe('2')
  })

  it('reads CRLF files without a stray carriage return in any value', () => {
    const env = EnvFile.parse('# c\r\nA=1\r\nB="two words"\r\nC=\'three\'\r\n\r\nD=four # note\r\n')
    expect(env.toObject()).toEqual({A: '1', B: 'two words', C: 'three', D: 'four'})
    env.set('E', 'five')
    const reread = EnvFile.parse(env.toString())
    expect(reread.toObject()).toEqual({A: '1', B: 'two words', C: 'three', D: 'four', E: 'five'})
  })
})

describe('EnvFile.parse: errors', () => {
  function parseError(text: string): EnvFileError {
    try {
      EnvFile.parse(text)
    } catch (error) {
      expect(error).toBeInstanceOf(EnvFileError)
      return error as EnvFileError
    }

    throw new Error(`expected ${JSON.stringify(text)} to be rejected`)
  }

  it('names the line of a KEY without =', () => {
    const error = parseError('# c\nA=1\n\nJUSTAKEY\nB=2\n')
    expect(error.line).toBe(4)
    expect(error.message).toContain('line 4')
  })

  it('rejects an empty key and invalid keys with their line number', () => {
    expect(parseError('=value').line).toBe(1)
    const invalid = parseError('A=1\n1ABC=x\n')
    expect(invalid.line).toBe(2)
    expect(invalid.message).toMatch(/line 2 .*invalid key/)
    expect(parseError('A=1\nB=2\nMY-KEY=x').line).toBe(3)
    expect(parseError('MY KEY=x').line).toBe(1)
  })

  it('rejects unterminated double and single quotes with the line and the key', () => {
    const dq = parseError('A=1\nPASSWORD="abc\n')
    expect(dq.line).toBe(2)
    expect(dq.message).toContain('PASSWORD')
    expect(dq.message).toMatch(/unterminated/)
    const sq = parseError("A=1\nB=2\nTOKEN='abc")
    expect(sq.line).toBe(3)
    expect(sq.message).toContain('TOKEN')
  })

  it('rejects a value that is a lone opening quote', () => {
    expect(() => composeV2Read('PASSWORD="\n')).toThrow(/unterminated/)
    expect(parseError('A=1\nPASSWORD="\n').line).toBe(2)
    expect(parseError("PASSWORD='").line).toBe(1)
  })

  it('parseEnv turns a syntax error into an InvalidInputError (exit 3) naming the file and line', () => {
    try {
      parseEnv('A=1\nBROKEN\n', '/opt/agnes/.env')
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError)
      expect((error as InvalidInputError).exitCode).toBe(3)
      expect((error as Error).message).toContain('/opt/agnes/.env')
      expect((error as Error).message).toContain('line 2')
    }
  })
})
