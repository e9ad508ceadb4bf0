/**
 * A line-preserving .env reader and editor. The file is never sourced or evaluated: free-text values with
 * `$`, backticks and quotes broke the real upgrade script (docs/design.md#env-is-parsed-never-sourced). Editing keeps every other key,
 * every comment and the order; only the keys agnes sets change.
 */

const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/

interface EntryLine {
  kind: 'entry'
  key: string
  value: string
  raw: string
}

interface OtherLine {
  kind: 'other'
  raw: string
}

type Line = EntryLine | OtherLine

export class EnvFileError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message)
    this.name = 'EnvFileError'
  }
}

/**
 * Reads a value: one layer of quotes stripped (double-quoted values understand \n, \", \\, \$ and \`),
 * a comment after the closing quote or after whitespace ignored. Undefined when a quote is not closed.
 */
function readValue(rawValue: string): string | undefined {
  const value = rawValue.trim()
  const quote = value[0]
  if (quote === "'" || quote === '"') {
    let end = 1
    while (end < value.length && value[end] !== quote) end += quote === '"' && value[end] === '\\' ? 2 : 1
    if (end >= value.length) return undefined
    const rest = value.slice(end + 1).trim()
    if (rest !== '' && !rest.startsWith('#')) return undefined
    const inner = value.slice(1, end)
    return quote === "'" ? inner : inner.replace(/\\([n"\\$`])/g, (_m, ch: string) => (ch === 'n' ? '\n' : ch))
  }

  // An unquoted value ends at an inline comment that follows whitespace.
  const comment = value.search(/\s#/)
  return (comment === -1 ? value : value.slice(0, comment)).trim()
}

/**
 * Formats a value so Compose (v1 and v2) and line-wise readers get it back unchanged. Single quotes are
 * literal in both Compose versions, so they are used whenever the value needs quoting and holds no quote.
 */
export function formatEnvValue(value: string): string {
  if (value.includes('\n')) throw new Error('A .env value cannot span lines')
  if (/^[A-Za-z0-9_./:@,+=-]*$/.test(value)) return value
  if (value.endsWith('\\')) {
    // Compose v2 reads a quote right after a backslash as escaped: no quoting can end such a value.
    if (/^[^\s'"#]/.test(value) && !/\s|\$/.test(value)) return value
    throw new Error('a .env value that ends with a backslash cannot contain spaces or $')
  }

  if (!value.includes("'")) return `'${value}'`
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$')}"`
}

export class EnvFile {
  private readonly lines: Line[]
  private readonly trailingNewline: boolean

  private constructor(lines: Line[], trailingNewline: boolean) {
    this.lines = lines
    this.trailingNewline = trailingNewline
  }

  static parse(text: string): EnvFile {
    const trailingNewline = text === '' || text.endsWith('\n')
    const rawLines = text === '' ? [] : text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n')
    const lines: Line[] = rawLines.map((raw, index) => {
      const trimmed = raw.trim()
      if (trimmed === '' || trimmed.startsWith('#')) return {kind: 'other', raw}
      const body = trimmed.startsWith('export ') ? trimmed.slice(7).trimStart() : trimmed
      const eq = body.indexOf('=')
      if (eq <= 0) throw new EnvFileError(`line ${index + 1} is not KEY=value`, index + 1)
      const key = body.slice(0, eq).trim()
      if (!KEY_PATTERN.test(key)) throw new EnvFileError(`line ${index + 1} has an invalid key`, index + 1)
      const value = readValue(body.slice(eq + 1))
      if (value === undefined) throw new EnvFileError(`line ${index + 1} (${key}) has an unterminated quote`, index + 1)
      return {kind: 'entry', key, raw, value}
    })
    return new EnvFile(lines, trailingNewline)
  }

  /** The last definition wins, as in Docker Compose, which reads the same file for the containers. */
  get(key: string): string | undefined {
    return this.lastEntry(key)?.value
  }

  /** Keys defined more than once, with their 1-based line numbers. */
  duplicates(): Array<{key: string; lines: number[]}> {
    const lines = new Map<string, number[]>()
    for (const [index, line] of this.lines.entries()) {
      if (line.kind === 'entry') lines.set(line.key, [...(lines.get(line.key) ?? []), index + 1])
    }

    return [...lines].filter(([, numbers]) => numbers.length > 1).map(([key, numbers]) => ({key, lines: numbers}))
  }

  private lastEntry(key: string): EntryLine | undefined {
    return this.lines.findLast((line): line is EntryLine => line.kind === 'entry' && line.key === key)
  }

  has(key: string): boolean {
    return this.get(key) !== undefined
  }

  keys(): string[] {
    return [...new Set(this.lines.flatMap((line) => (line.kind === 'entry' ? [line.key] : [])))]
  }

  toObject(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const key of this.keys()) out[key] = this.get(key) as string
    return out
  }

  /** Sets a key in place (its last definition, the one Compose reads), or appends it, optionally under a comment. */
  set(key: string, value: string, comment?: string): void {
    if (!KEY_PATTERN.test(key)) throw new Error(`invalid .env key ${key}`)
    const raw = `${key}=${formatEnvValue(value)}`
    const existing = this.lastEntry(key)
    if (existing) {
      if (existing.value === value) return
      existing.raw = raw
      existing.value = value
      return
    }

    if (comment !== undefined) this.lines.push({kind: 'other', raw: `# ${comment}`})
    this.lines.push({kind: 'entry', key, raw, value})
  }

  /** Appends a comment or blank line, e.g. a section heading before new keys. */
  appendRaw(raw: string): void {
    this.lines.push({kind: 'other', raw})
  }

  toString(): string {
    const body = this.lines.map((line) => line.raw).join('\n')
    return body === '' ? '' : body + (this.trailingNewline ? '\n' : '')
  }
}
