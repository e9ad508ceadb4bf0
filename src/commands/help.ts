import {Args} from '@oclif/core'

import {AgnesCommand} from '../base-command.js'
import {UsageError} from '../lib/errors.js'

interface HelpResult {
  /** The command or topic explained, with spaces (`schedule install`); empty for the root help. */
  subject: string
  text: string
}

export default class HelpCommand extends AgnesCommand<typeof HelpCommand> {
  static description = 'Show the help of agnes, of a topic or of one command (the same as `agnes <command> --help`).'

  static examples = ['<%= config.bin %> help', '<%= config.bin %> help upgrade', '<%= config.bin %> help schedule install --json']

  static args = {
    command: Args.string({description: 'The command or topic, e.g. upgrade or schedule install.', required: false}),
  }

  static strict = false

  protected async execute(): Promise<HelpResult> {
    const words = this.argv.filter((arg) => !arg.startsWith('-'))
    const id = words.join(':')
    if (id !== '' && !this.config.findCommand(id) && !this.config.findTopic(id)) {
      // The words are not echoed: whatever was typed (a pasted token) stays off the screen and out of logs.
      throw new UsageError('no such command or topic', {hint: '`agnes --help` lists the commands and topics.'})
    }

    const {default: AgnesHelp} = await import('../help.js')
    return {subject: words.join(' '), text: await new AgnesHelp(this.config).helpText(words)}
  }

  protected render(result: HelpResult): void {
    this.out(result.text)
  }
}
