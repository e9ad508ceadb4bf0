/** How src/lib reports progress and warnings without knowing about oclif, terminals or --json. */
export interface Reporter {
  /** A progress line for a person or a log (stderr). */
  progress(message: string): void
  /** Something the user should know; collected into the JSON envelope's warnings. */
  warn(message: string): void
}

export const silentReporter: Reporter = {
  progress() {},
  warn() {},
}

/** Collects everything, for tests. */
export class RecordingReporter implements Reporter {
  readonly lines: string[] = []
  readonly warnings: string[] = []
  progress(message: string): void {
    this.lines.push(message)
  }

  warn(message: string): void {
    this.warnings.push(message)
  }
}

/** A command's Reporter on stderr. Closed when the command ends (a task list then shows its last step as done or failed). */
export interface ProgressSink extends Reporter {
  close(outcome: 'done' | 'failed'): Promise<void>
}

/**
 * How a command shows its progress: a task list on a terminal for multi-step work, timestamped lines for
 * a log (cron, CI, an agent's capture, --json), and plain lines for everything else.
 */
export type ProgressStyle = 'task-list' | 'timestamped' | 'plain'

export function chooseProgressStyle(options: {multiStep: boolean; json: boolean; stderrTTY: boolean; env: NodeJS.ProcessEnv; columns?: number}): ProgressStyle {
  if (!options.multiStep) return 'plain'
  const {env} = options
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== '0' && env.CI.toLowerCase() !== 'false'
  // The task list redraws itself with cursor movements: a terminal that cannot do that gets log lines.
  if (options.json || !options.stderrTTY || ci || env.TERM === 'dumb') return 'timestamped'
  // listr2 wraps to the width of stdout; a terminal that reports no width (a 0x0 pty) would get one character a line.
  if (options.columns !== undefined && options.columns < 20) return 'timestamped'
  return 'task-list'
}

/** `2026-12-01T23:40:00Z`: UTC to the second, the same in every log. */
export function logTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** One line per message, optionally timestamped. */
export class LineReporter implements ProgressSink {
  constructor(
    private readonly options: {
      write: (line: string) => void
      timestamps: boolean
      paint?: (style: 'yellow', text: string) => string
      now?: () => Date
    },
  ) {}

  progress(message: string): void {
    this.options.write(this.prefix() + message)
  }

  warn(message: string): void {
    const label = this.options.paint ? this.options.paint('yellow', 'Warning:') : 'Warning:'
    this.options.write(`${this.prefix()}${label} ${message}`)
  }

  async close(): Promise<void> {}

  private prefix(): string {
    return this.options.timestamps ? `${logTimestamp(this.options.now?.())} ` : ''
  }
}
