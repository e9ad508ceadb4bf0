import {Command, Help, Interfaces} from '@oclif/core'

import {EXIT_CODE_TABLE} from './lib/errors.js'

/** The path from an empty directory to a checked instance, as in the README's Quick start. */
export const QUICK_PATH: ReadonlyArray<[string, string]> = [
  ['agnes init', 'write the instance here (a wizard; for an agent: --non-interactive with flags)'],
  ['agnes up', 'preflight, pull by digest, start, wait until healthy; prints the URL'],
  ['agnes configure', 'first admin and data source, through the instance API'],
  ['agnes smoke', 'post-deploy smoke test'],
]

export function exitCodeSection(): string {
  return `EXIT CODES\n${EXIT_CODE_TABLE.map(([code, meaning]) => `  ${String(code).padStart(3)}  ${meaning}`).join('\n')}`
}

export function quickPathSection(): string {
  const width = Math.max(...QUICK_PATH.map(([command]) => command.length))
  return `QUICK START\n${QUICK_PATH.map(([command, what]) => `  $ ${command.padEnd(width)}  # ${what}`).join('\n')}\n\n  Then schedule upgrades: agnes schedule install`
}

/** oclif's help plus the quick path on the root help and the exit-code table everywhere, for cron authors and agents. */
export default class AgnesHelp extends Help {
  private captured: string[] | undefined

  /** The help of `argv` (a command or topic id as words, or none for the root) as text, for `agnes help`. */
  async helpText(argv: string[]): Promise<string> {
    this.captured = []
    try {
      await this.showHelp(argv)
      return this.captured.join('\n')
    } finally {
      this.captured = undefined
    }
  }

  protected log(...args: string[]): void {
    if (this.captured) this.captured.push(args.join(' '))
    else super.log(...args)
  }

  protected formatCommand(command: Command.Loadable): string {
    return `${super.formatCommand(command)}\n\n${exitCodeSection()}`
  }

  /**
   * Topics are the ids with commands below them. oclif 4 tests `name.includes(topic + ':')`, so `backup:list`
   * made `up` a topic; a child's id starts with its topic.
   */
  protected get sortedTopics(): Interfaces.Topic[] {
    return super.sortedTopics.filter((topic) => this.config.topics.some((child) => child.name.startsWith(`${topic.name}:`)))
  }

  protected async showRootHelp(): Promise<void> {
    await super.showRootHelp()
    this.log(`${quickPathSection()}\n\n${exitCodeSection()}`)
  }
}
