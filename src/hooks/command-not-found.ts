import {Hook} from '@oclif/core'

import {closest, errorDocument} from '../cli-errors.js'
import {UsageError} from '../lib/errors.js'
import {redact} from '../lib/secrets/redact.js'

/**
 * An unknown command is a usage error (exit 2) like any other: one JSON document under --json, the usual
 * message and one hint otherwise. A flag in the command's place is named without its value; for a word after a
 * command that takes no argument, the hint points at that command's help.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const commands = options.config.commands.filter((command) => !command.hidden).map((command) => command.id)
  const spaced = (id: string) => id.replaceAll(':', ' ')
  const names = commands.map(spaced).sort()
  const words = [options.id, ...(options.argv ?? [])]
  const end = words.indexOf('--')
  const json = (end === -1 ? words : words.slice(0, end)).includes('--json')
  const parent = commandPrefix(options.id, commands)

  let error: UsageError
  if (options.id.startsWith('-')) {
    error = new UsageError(`Expected a command before any flag, got ${options.id.replace(/=.*$/s, '')}`, {hint: `Run \`agnes <command> [flags]\`, e.g. \`agnes status --json\`. Commands: ${names.join(', ')}. See \`agnes --help\`.`})
  } else if (parent === undefined) {
    const best = closest(spaced(options.id), names)
    error = new UsageError(`Unknown command ${spaced(options.id)}`, {hint: best === undefined ? `Commands: ${names.join(', ')}. See \`agnes --help\`.` : `Did you mean \`agnes ${best}\`? See \`agnes --help\`.`})
  } else {
    error = new UsageError(`Unknown command ${spaced(options.id)}`, {hint: `\`agnes ${spaced(parent)}\` takes no such argument. See \`agnes ${spaced(parent)} --help\`.`})
  }

  process.exitCode = error.exitCode
  if (json) process.stdout.write(redact(JSON.stringify(errorDocument(error), null, 2)) + '\n')
  else process.stderr.write(redact(`Error [${error.code}]: ${error.message}\nHint: ${error.hint}`) + '\n')
}

/** The longest command the id starts with (`up` for `up:extra`): oclif glues a stray word onto the command id. */
function commandPrefix(id: string, commands: readonly string[]): string | undefined {
  const parts = id.split(':')
  for (let length = parts.length - 1; length > 0; length--) {
    const prefix = parts.slice(0, length).join(':')
    if (commands.includes(prefix)) return prefix
  }

  return undefined
}

export default hook
