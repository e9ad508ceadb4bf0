import type {ChalkInstance} from 'chalk'

export type Style = 'bold' | 'dim' | 'green' | 'red' | 'yellow' | 'cyan'

/** Colours one piece of text; the identity when colour is off. */
export type Painter = (style: Style, text: string) => string

export const noColor: Painter = (_style, text) => text

/** Whether human output gets colour: never under --json, --no-color, NO_COLOR or TERM=dumb; FORCE_COLOR wins over a missing terminal. */
export function wantsColor(options: {json: boolean; argv: string[]; env: NodeJS.ProcessEnv; stdoutTTY: boolean; stderrTTY: boolean}): boolean {
  const {env} = options
  if (options.json) return false
  if (options.argv.includes('--no-color')) return false
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.TERM === 'dumb') return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true
  return options.stdoutTTY && options.stderrTTY
}

/**
 * Loads chalk (lazily: `agnes --version` never needs it) and sets its level for the whole process, so the
 * task list and every painted string agree. Level 1 (16 colours) when colour is forced without a terminal.
 */
export async function loadChalk(enabled: boolean): Promise<ChalkInstance> {
  const chalk = (await import('chalk')).default
  chalk.level = enabled ? chalk.level || 1 : 0
  return chalk
}

export function chalkPainter(chalk: ChalkInstance): Painter {
  return (style, text) => (chalk.level === 0 ? text : chalk[style](text))
}
