import {AgnesError, UsageError} from './lib/errors.js'

/** What a usage error may know of a command's flags and arguments (oclif's definitions, loosely typed). */
export interface CommandShape {
  id?: string
  flags: Record<string, {description?: string; env?: string; options?: readonly string[]} | undefined>
  args: Record<string, {options?: readonly string[]} | undefined>
}

/** The `--json` document of a failed command (docs/design.md#the-outcome-contract). */
export function errorDocument(error: AgnesError, warnings: string[] = []): Record<string, unknown> {
  const body: Record<string, unknown> = {
    ok: false,
    error: {code: error.code, message: error.message, ...(error.hint ? {hint: error.hint} : {}), exitCode: error.exitCode},
  }
  if (error.result !== undefined) body.result = error.result
  if (warnings.length > 0) body.warnings = warnings
  return body
}

/** Flag names that suggest a secret; agnes takes secrets from env, a file or stdin, never from a flag value. */
const SECRET_NAME = /pass(word|wd|phrase)?|token|secret|key|webhook|credential|auth|cookie/i

/**
 * A usage error (exit 2) from anything oclif's parser threw. The message names the flag or argument and
 * never repeats a value the user typed or set in the environment: a secret given by mistake as a flag
 * (`--admin-password=…`) must not reach stderr, the JSON document or a log. One hint, not two.
 */
export function usageErrorFrom(error: Error, command: CommandShape, argv: readonly string[]): UsageError {
  const help = `See \`agnes${command.id ? ` ${command.id}` : ''} --help\`.`
  const {message, flag} = describe(error, command, argv)
  const hint = flag === undefined || flag in command.flags ? undefined : unknownFlagHint(flag, command)
  return new UsageError(message, {hint: hint === undefined ? help : `${hint} ${help}`})
}

/** For a flag the command does not have: where its secret belongs, or the flag that was probably meant. */
function unknownFlagHint(flag: string, command: CommandShape): string | undefined {
  const secret = SECRET_NAME.test(flag)
  const twins = secret ? secretTwins(flag, command) : []
  if (twins.length > 0) return `agnes never takes a secret from a flag value: give it through ${orList(twins)}.`
  const best = closest(flag, Object.keys(command.flags))
  if (best !== undefined) return `Did you mean --${best}?`
  return secret ? 'agnes never takes a secret from a flag value: give it through an environment variable or a file.' : undefined
}

function describe(error: Error & {flags?: string[]; args?: Array<string | {name?: string}>}, command: CommandShape, argv: readonly string[]): {message: string; flag?: string} {
  const text = stripAnsi(error.message).replace(/\nSee more help with --help\s*$/, '')
  const name = error.constructor.name

  if (name === 'NonExistentFlagsError' && error.flags) {
    // `--name=value` → `--name`; a short flag may carry its value glued on (`-xvalue`) → `-x`.
    const flags = [...new Set(error.flags.map((flag) => (flag.startsWith('--') ? flag.replace(/=.*$/s, '') : flag.slice(0, 2))))]
    return {flag: flags.map(flagName).find((flag) => SECRET_NAME.test(flag)) ?? flagName(flags[0]), message: `Unknown flag${flags.length === 1 ? '' : 's'} ${flags.join(', ')}`}
  }

  if (name === 'UnexpectedArgsError' && error.args) {
    const count = error.args.length
    return {message: `${count} unexpected argument${count === 1 ? '' : 's'} (not shown, in case one is a secret); a value after a flag that takes none counts as one`}
  }

  if (name === 'RequiredArgsError' && error.args) {
    const names = error.args.map((arg) => (typeof arg === 'string' ? arg : arg.name)).filter(Boolean)
    return {message: `Missing required argument${names.length === 1 ? '' : 's'}: ${names.join(', ')}`}
  }

  const invalidOption = /^Expected --([A-Za-z0-9-]+)=/.exec(text)
  if (name === 'FlagInvalidOptionError' && invalidOption) {
    const flag = invalidOption[1]
    return {flag, message: `--${flag}${fromEnv(flag, command, argv)} must be one of: ${(command.flags[flag]?.options ?? []).join(', ')}`}
  }

  if (name === 'ArgInvalidOptionError') {
    const entry = Object.entries(command.args).find(([, arg]) => arg?.options && text.endsWith(` to be one of: ${arg.options.join(', ')}`))
    return {message: entry ? `<${entry[0]}> must be one of: ${entry[1]?.options?.join(', ')}` : 'an argument is not one of the values it accepts'}
  }

  // A flag's own parser failed: "Parsing --name \n\t<reason>", where oclif's reasons end in "but received: <value>".
  const parsing = /^Parsing --([A-Za-z0-9-]+)\s*\n\t?([\s\S]*)$/.exec(text)
  if (parsing) {
    const flag = parsing[1]
    const reason = scrub(parsing[2].replace(/\s*but received:[\s\S]*$/, '').trim(), argv, command)
    return {flag, message: `--${flag}${fromEnv(flag, command, argv)}: ${lowerFirst(reason || 'invalid value')}`}
  }

  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !/^The following errors? occurred:$/.test(line))
  // Flag validation: "--a=<value> cannot also be provided when using --b", "Missing required flag x", …
  const message = scrub(lines.map((line) => line.replace(/(--[A-Za-z0-9-]+)=\S*/g, '$1')).join('; '), argv, command)
  return {flag: /--([A-Za-z0-9-]+)/.exec(message)?.[1], message: message || 'Invalid command line'}
}

/** " (set through AGNES_X)" when the flag's value came from its environment twin rather than the command line. */
function fromEnv(flag: string, command: CommandShape, argv: readonly string[]): string {
  const env = command.flags[flag]?.env
  const onCommandLine = argv.some((token) => token === `--${flag}` || token.startsWith(`--${flag}=`))
  return !onCommandLine && env !== undefined && process.env[env] !== undefined ? ` (set through ${env})` : ''
}

/**
 * The values the user gave on the command line (after `=` or as a word of their own) and through the
 * flags' environment twins, cut out of a message oclif may have built from them.
 */
function scrub(message: string, argv: readonly string[], command: CommandShape): string {
  const values = new Set<string>()
  for (const token of argv) {
    const eq = token.startsWith('-') ? token.indexOf('=') : -1
    if (eq !== -1) values.add(token.slice(eq + 1))
    else if (!token.startsWith('-')) values.add(token)
  }

  for (const flag of Object.values(command.flags)) {
    const value = flag?.env === undefined ? undefined : process.env[flag.env]
    if (value !== undefined) values.add(value)
  }

  let out = message
  for (const value of [...values].filter((v) => v.trim().length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(value).join('<value>')
  }

  return out
}

/** Where a secret typed as a flag belongs: the env variable, file flag and stdin flag of the command. */
function secretTwins(flag: string, command: CommandShape): string[] {
  const stem = flag.replace(/-(file|stdin)$/, '')
  let twins = Object.keys(command.flags).filter((name) => name === `${stem}-file` || name === `${stem}-stdin`)
  if (twins.length === 0) {
    const word = SECRET_NAME.exec(stem)?.[0].toLowerCase() ?? ''
    twins = Object.keys(command.flags).filter((name) => /-(file|stdin)$/.test(name) && name.toLowerCase().includes(word))
  }

  const envs = twins.flatMap((name) => /\bset (AGNES_[A-Z0-9_]+)/.exec(command.flags[name]?.description ?? '')?.[1] ?? [])
  return [...new Set([...envs, ...twins.map((name) => `--${name}`)])]
}

function orList(items: string[]): string {
  return items.length === 1 ? items[0] : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`
}

/** The candidate within edit distance 2 of name (or a third of its length), if there is one. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: {candidate: string; distance: number} | undefined
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (distance <= Math.max(2, Math.floor(name.length / 3)) && (best === undefined || distance < best.distance)) best = {candidate, distance}
  }

  return best?.candidate
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    previous = current
  }

  return previous[b.length]
}

function flagName(token: string): string {
  return token.replace(/^-+/, '')
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1)
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001B\[[0-9;]*m/g, '')
}
