import {readFile} from 'node:fs/promises'

import {InputRequiredError, InvalidInputError} from './errors.js'
import {Prompter} from './prompt.js'
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

function firstLine(text: string): string {
  return text.replace(/\r?\n$/, '').split(/\r?\n/)[0] ?? ''
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
      value = firstLine(await readFile(source.file, 'utf8'))
    } catch (error) {
      throw new InvalidInputError(`cannot read ${source.label} from ${source.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
        hint: `Check the path given to ${source.fileFlag}.`,
      })
    }

    if (value === '') throw new InvalidInputError(`${source.file} is empty; expected the ${source.label}`)
  } else if (source.fromStdin) {
    value = firstLine(await readStdinText(options.stdin))
    if (value === '') throw new InvalidInputError(`stdin was empty; expected the ${source.label}`)
  } else if (env[source.envVar]) {
    value = env[source.envVar]
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
