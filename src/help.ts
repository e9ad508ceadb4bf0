import {Command, Help} from '@oclif/core'

import {EXIT_CODE_TABLE} from './lib/errors.js'

/** oclif's help plus the exit-code table under every command, so cron authors and agents find it. */
export default class AgnesHelp extends Help {
  protected formatCommand(command: Command.Loadable): string {
    const table = EXIT_CODE_TABLE.map(([code, meaning]) => `  ${String(code).padStart(3)}  ${meaning}`).join('\n')
    return `${super.formatCommand(command)}\n\nEXIT CODES\n${table}`
  }
}
