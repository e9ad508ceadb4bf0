/**
 * The prompts a command may show. The real implementation loads @inquirer/prompts lazily and renders on
 * stderr, so stdout keeps only the result. Tests inject a scripted Prompter.
 */
export interface Choice<T extends string> {
  value: T
  name?: string
  description?: string
}

export interface Prompter {
  input(options: {message: string; default?: string; validate?: (value: string) => true | string}): Promise<string>
  password(options: {message: string; validate?: (value: string) => true | string}): Promise<string>
  select<T extends string>(options: {message: string; choices: Array<Choice<T>>; default?: T}): Promise<T>
  confirm(options: {message: string; default?: boolean}): Promise<boolean>
}

export function createInquirerPrompter(signal?: AbortSignal): Prompter {
  const context = {output: process.stderr, signal}
  const load = () => import('@inquirer/prompts')
  return {
    async input(options) {
      const {input} = await load()
      return input({message: options.message, default: options.default, validate: options.validate}, context)
    },
    async password(options) {
      const {password} = await load()
      return password({message: options.message, mask: true, validate: options.validate}, context)
    },
    async select(options) {
      const {select} = await load()
      return select({message: options.message, choices: options.choices, default: options.default}, context)
    },
    async confirm(options) {
      const {confirm} = await load()
      return confirm({message: options.message, default: options.default}, context)
    },
  }
}

/** Whether prompting is allowed: both ends are terminals, not CI, and neither --json nor --non-interactive. */
export function canPrompt(options: {json: boolean; nonInteractive: boolean; env?: NodeJS.ProcessEnv; stdinTTY?: boolean; stdoutTTY?: boolean}): boolean {
  const env = options.env ?? process.env
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI.toLowerCase() !== 'false'
  const stdinTTY = options.stdinTTY ?? Boolean(process.stdin.isTTY)
  const stdoutTTY = options.stdoutTTY ?? Boolean(process.stdout.isTTY)
  return stdinTTY && stdoutTTY && !ci && !options.json && !options.nonInteractive
}
