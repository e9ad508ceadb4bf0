import {Hook} from '@oclif/core'

import {closest, errorDocument} from '../cli-errors.js'
import {UsageError} from '../lib/errors.js'
import {redact} from '../lib/secrets/redact.js'

/**
 * An unknown command is a usage error (exit 2) like any other: one JSON document under --json, the usual
 * message and hint otherwise. A flag in the command's place is named without its value.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const commands = options.config.commands.filter((command) => !command.hidden).map((command) => command.id).sort()
  const words = [options.id, ...(options.argv ?? [])]
  const end = words.indexOf('--')
  const json = (end === -1 ? words : words.slice(0, end)).includes('--json')

  let error: UsageError
  if (options.id.startsWith('-')) {
    error = new UsageError(`Expected a command before any flag, got ${options.id.replace(/=.*$/s, '')}`, {hint: `Run \`agnes <command> [flags]\`, e.g. \`agnes status --json\`. Commands: ${commands.join(', ')}. See \`agnes --help\`.`})
  } else {
    const best = closest(options.id, commands)
    error = new UsageError(`Unknown command ${options.id}`, {hint: best === undefined ? `Commands: ${commands.join(', ')}. See \`agnes --help\`.` : `Did you mean \`agnes ${best}\`? See \`agnes --help\`.`})
  }

  process.exitCode = error.exitCode
  if (json) process.stdout.write(redact(JSON.stringify(errorDocument(error), null, 2)) + '\n')
  else process.stderr.write(redact(`Error [${error.code}]: ${error.message}\nHint: ${error.hint}`) + '\n')
}

export default hook
