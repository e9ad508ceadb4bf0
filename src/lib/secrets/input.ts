import {readFile} from 'node:fs/promises'

import {InputRequiredError, InvalidInputError} from '../errors.js'
import {Prompter} from '../ui/prompt.js'
import {registerSecret} from './redact.js'

/**
 * Where a secret the user gives may come from. Never a flag value: flags land in shell history and in
 * the process list. The flags name a file, or say "read it from stdin".
 */
export interface SecretSource {
  /** What it is, for messages: "Keboola Storage token". */
  label: string
  /** The environment variable holding it, e.g. AGNES_KEBOOLA_TOKEN. */
  envVar: string
  /** The flag that names a file holding it, e.g. --keboola-token-file. */
  fileFlag: string
  /** The value of that flag, if given. */
  file?: string
  /** True when the matching --…-stdin flag was given. */
  fromStdin?: boolean
  stdinFlag?: string
}

export async function readStdinText(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
  return Buffer.concat(chunks).toString('utf8')
}

const CONTROL_CHARACTER = /[\u0000-\u001F\u007F]/

/**
 * Refuses a secret holding a newline or another control character, where it came from named and the value
 * never shown: a second line in a token file or an env variable is a mistake that would otherwise be sent
 * silently (or cut off).
 */
export function refuseControlCharacters(value: string, where: string, label: string): string {
  if (CONTROL_CHARACTER.test(value)) {
    throw new InvalidInputError(`${where} holds a newline or another control character in the ${label}`, {
      hint: `Put only the ${label} there, on one line (a file may end with one newline).`,
    })
  }

  return value
}

/** The text of a file or stdin without its one trailing newline. */
function withoutTrailingNewline(text: string): string {
  return text.replace(/\r?\n$/, '')
}

/**
 * Reads a secret from (in order) the named file, stdin, the environment, or a hidden prompt.
 * Returns undefined when none gives one and it is optional; throws InputRequiredError (exit 4) when required.
 */
export async function readSecret(
  source: SecretSource,
  options: {env?: NodeJS.ProcessEnv; prompter?: Prompter; required: boolean; stdin?: NodeJS.ReadableStream; promptMessage?: string},
): Promise<string | undefined> {
  const env = options.env ?? process.env
  let value: string | undefined
  if (source.file !== undefined) {
    try {
      value = withoutTrailingNewline(await readFile(source.file, 'utf8'))
    } catch (error) {
      throw new InvalidInputError(`cannot read ${source.label} from ${source.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
        hint: `Check the path given to ${source.fileFlag}.`,
      })
    }

    if (value === '') throw new InvalidInputError(`${source.file} is empty; expected the ${source.label}`, {hint: `Write the ${source.label} into ${source.file} (one line, mode 0600), or give it another way (see --help).`})
    refuseControlCharacters(value, `${source.file} (${source.fileFlag})`, source.label)
  } else if (source.fromStdin) {
    value = withoutTrailingNewline(await readStdinText(options.stdin))
    if (value === '') throw new InvalidInputError(`stdin was empty; expected the ${source.label}`, {hint: `Pipe the ${source.label} into stdin (one line), or give it another way (see --help).`})
    refuseControlCharacters(value, source.stdinFlag ? `stdin (${source.stdinFlag})` : 'stdin', source.label)
  } else if (env[source.envVar]) {
    value = refuseControlCharacters(env[source.envVar] as string, source.envVar, source.label)
  } else if (options.prompter) {
    value = await options.prompter.password({message: options.promptMessage ?? `${source.label}:`})
    if (value === '') value = undefined
  }

  if (value === undefined && options.required) {
    const how = [`${source.envVar}=…`, `${source.fileFlag} <path>`, source.stdinFlag].filter(Boolean).join(', ')
    throw new InputRequiredError(source.fileFlag, `The ${source.label}`, {hint: `Give it through ${how}. It is never accepted as a flag value.`})
  }

  registerSecret(value)
  return value
}
