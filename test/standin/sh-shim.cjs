#!/usr/local/bin/node
// A minimal /bin/sh for the FROM-scratch stand-in image, so CMD-SHELL healthchecks
// (`docker run --health-cmd 'curl -sf ...'`, a string `test:` in compose) and `docker exec ... sh -c` work.
// Supports `sh -c 'CMD ARG... [&& CMD...] [|| exit N]'` with single/double quotes and the builtins
// exit, true and false. Pipes, redirections, variables, `;` and the like are refused with exit 2.
'use strict'
const {spawnSync} = require('node:child_process')

const UNSUPPORTED = new Set(['|', ';', '<', '>', '$', '`', '(', ')', '&'])

class ShellSyntaxError extends Error {}

/** Split a script into words and '&&' / '||' operators. */
function tokenize(script) {
  const tokens = []
  let word
  let index = 0
  const flush = () => {
    if (word !== undefined) tokens.push(word)
    word = undefined
  }
  while (index < script.length) {
    const char = script[index]
    const pair = script.slice(index, index + 2)
    if (pair === '&&' || pair === '||') {
      flush()
      tokens.push({operator: pair})
      index += 2
    } else if (/\s/.test(char)) {
      flush()
      index += 1
    } else if (char === "'" || char === '"') {
      const end = script.indexOf(char, index + 1)
      if (end < 0) throw new ShellSyntaxError(`unterminated ${char}`)
      const quoted = script.slice(index + 1, end)
      if (char === '"' && /[$`\\]/.test(quoted)) throw new ShellSyntaxError('expansions inside double quotes are not supported')
      word = (word ?? '') + quoted
      index = end + 1
    } else if (UNSUPPORTED.has(char) || char === '\\') {
      throw new ShellSyntaxError(`'${char}' is not supported by the stand-in shell`)
    } else {
      word = (word ?? '') + char
      index += 1
    }
  }
  flush()
  return tokens
}

/** Group tokens into [{operator, words}] where the first operator is null. */
function commandList(tokens) {
  const commands = [{operator: null, words: []}]
  for (const token of tokens) {
    if (typeof token === 'string') commands.at(-1).words.push(token)
    else commands.push({operator: token.operator, words: []})
  }
  if (commands.some((command) => command.words.length === 0)) throw new ShellSyntaxError('empty command')
  return commands
}

function runCommand([name, ...args], lastStatus) {
  if (name === 'exit') process.exit(args.length > 0 ? Number(args[0]) : lastStatus)
  if (name === 'true') return 0
  if (name === 'false') return 1
  const result = spawnSync(name, args, {stdio: 'inherit'})
  if (result.error) {
    process.stderr.write(`sh: 1: ${name}: not found\n`)
    return 127
  }
  return result.status ?? 128
}

function main(argv) {
  if (argv[0] !== '-c' || argv.length < 2) {
    process.stderr.write('sh (stand-in): only `sh -c SCRIPT` is supported\n')
    return 2
  }
  let commands
  try {
    commands = commandList(tokenize(argv[1]))
  } catch (error) {
    if (!(error instanceof ShellSyntaxError)) throw error
    process.stderr.write(`sh (stand-in): ${error.message}\n`)
    return 2
  }
  let status = 0
  for (const {operator, words} of commands) {
    const shouldRun = operator === null || (operator === '&&' ? status === 0 : status !== 0)
    if (shouldRun) status = runCommand(words, status)
  }
  return status
}

process.exit(main(process.argv.slice(2)))
