import {Command, Flags, Interfaces} from '@oclif/core'
import type {ChalkInstance} from 'chalk'

import {CommandShape, errorDocument, usageErrorFrom} from './cli-errors.js'
import {AgnesError, ExitCode, InterruptedError, toAgnesError} from './lib/errors.js'
import {setFileWarningSink} from './lib/instance/file-warnings.js'
import {Prompter, canPrompt, createInquirerPrompter} from './lib/ui/prompt.js'
import {redact} from './lib/secrets/redact.js'
import {Painter, Style, chalkPainter, loadChalk, noColor, wantsColor} from './lib/ui/colors.js'
import {LineReporter, ProgressSink, Reporter, chooseProgressStyle} from './lib/ui/reporter.js'

export type AgnesFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof AgnesCommand)['baseFlags'] & T['flags']>
export type AgnesArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

const PARSE_ERROR_NAMES = new Set([
  'CLIParseError',
  'ArgInvalidOptionError',
  'FlagInvalidOptionError',
  'FailedFlagValidationError',
  'NonExistentFlagsError',
  'RequiredArgsError',
  'UnexpectedArgsError',
])

/**
 * The one base command. It owns the global flags, the JSON envelope, colour, signals and the mapping of
 * every error to the exit-code table. Subclasses implement execute() (call src/lib) and render() (human
 * output on stdout); they never print JSON, never call process.exit, never use console.
 */
export abstract class AgnesCommand<T extends typeof Command> extends Command {
  static baseFlags = {
    dir: Flags.string({
      description: 'Instance directory (default: the current directory).',
      env: 'AGNES_DIR',
      helpGroup: 'GLOBAL',
    }),
    yes: Flags.boolean({
      char: 'y',
      description: 'Answer yes to confirmations.',
      env: 'AGNES_YES',
      helpGroup: 'GLOBAL',
    }),
    'non-interactive': Flags.boolean({
      description: 'Never prompt; a missing value is an error that names its flag (exit 4).',
      env: 'AGNES_NON_INTERACTIVE',
      helpGroup: 'GLOBAL',
    }),
    color: Flags.boolean({
      allowNo: true,
      default: true,
      description: 'Colour in human output (--no-color or NO_COLOR turn it off).',
      helpGroup: 'GLOBAL',
    }),
  }

  static enableJsonFlag = true

  /** A command whose work is a sequence of steps: a task list on a terminal, timestamped lines in a log. */
  static multiStep = false

  protected flags!: AgnesFlags<T>
  protected args!: AgnesArgs<T>
  /** Aborted on SIGINT/SIGTERM; pass it to everything long-running in src/lib. */
  protected readonly abortController = new AbortController()
  /** Undefined when prompting is not allowed (no terminal, CI, --json or --non-interactive). */
  protected prompter: Prompter | undefined
  protected reporter!: Reporter
  protected useColor = false
  private painter: Painter = noColor
  private progressSink?: ProgressSink
  private readonly warnings: string[] = []
  private signalHandler?: (signal: NodeJS.Signals) => void

  protected get signal(): AbortSignal {
    return this.abortController.signal
  }

  /** The instance directory: --dir, AGNES_DIR, or the current directory. */
  protected get instanceDir(): string {
    return this.flags.dir ?? process.cwd()
  }

  /** Does the work through src/lib and returns the result (the JSON envelope's `result`). */
  protected abstract execute(): Promise<object>

  /** Prints the result for a person, on stdout. Not called under --json. */
  protected abstract render(result: object): void

  public async init(): Promise<void> {
    await super.init()
    // Every error of flag parsing is a usage error (exit 2) that never repeats a value; oclif throws plain
    // CLIErrors for some of them.
    const {args, flags} = await this.parse({
      args: this.ctor.args,
      baseFlags: (super.ctor as typeof AgnesCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      flags: this.ctor.flags,
      strict: this.ctor.strict,
    }).catch((error: Error) => {
      throw usageErrorFrom(error, this.commandShape(), this.argv)
    })
    this.flags = flags as AgnesFlags<T>
    this.args = args as AgnesArgs<T>

    this.useColor = wantsColor({
      argv: this.argv,
      env: process.env,
      json: this.jsonEnabled(),
      stderrTTY: Boolean(process.stderr.isTTY),
      stdoutTTY: Boolean(process.stdout.isTTY),
    })
    // chalk is loaded only to paint, or for a task list: `--json` and cron runs never load it.
    const chalk = this.useColor ? await loadChalk(true) : undefined
    this.painter = chalk ? chalkPainter(chalk) : noColor

    const interactive = canPrompt({json: this.jsonEnabled(), nonInteractive: this.flags['non-interactive']})
    this.prompter = interactive ? createInquirerPrompter(this.signal) : undefined
    this.progressSink = await this.openProgress(chalk)
    this.reporter = {
      progress: (message) => this.progressLine(message),
      warn: (message) => this.warnLine(message),
    }
    setFileWarningSink(this.reporter.warn)

    this.signalHandler = (signal) => {
      if (this.abortController.signal.aborted) {
        // A second signal: stop waiting for a graceful end.
        this.removeSignalHandlers()
        process.kill(process.pid, signal)
        return
      }

      this.stderrLine(`Received ${signal}; stopping…`)
      this.abortController.abort(new InterruptedError(`Interrupted by ${signal}`))
    }

    process.on('SIGINT', this.signalHandler)
    process.on('SIGTERM', this.signalHandler)
  }

  public async run(): Promise<object> {
    let result: object
    try {
      result = await this.execute()
    } catch (error) {
      await this.progressSink?.close('failed')
      throw error
    }

    await this.progressSink?.close('done')
    if (!this.jsonEnabled()) this.render(result)
    return result
  }

  protected async finally(error: Error | undefined): Promise<unknown> {
    this.removeSignalHandlers()
    setFileWarningSink(undefined)
    return super.finally(error)
  }

  /** Progress for people and logs, on stderr; --quiet flags of subclasses silence it. */
  protected progressLine(message: string): void {
    if (this.isQuiet()) return
    this.progressSink?.progress(redact(message))
  }

  protected isQuiet(): boolean {
    return false
  }

  protected warnLine(message: string): void {
    this.warnings.push(redact(message))
    if (!this.jsonEnabled()) this.progressSink?.warn(redact(message))
  }

  /** A line of the human result on stdout. */
  protected out(line = ''): void {
    process.stdout.write(redact(line) + '\n')
  }

  protected stderrLine(line: string): void {
    process.stderr.write(redact(line) + '\n')
  }

  protected paint(style: Style, text: string): string {
    return this.painter(style, text)
  }

  protected toSuccessJson(result: unknown): unknown {
    return {ok: true, result, warnings: this.warnings}
  }

  protected toErrorJson(error: unknown): unknown {
    return errorDocument(this.normalize(error), this.warnings)
  }

  protected logJson(json: unknown): void {
    process.stdout.write(redact(JSON.stringify(json, null, 2)) + '\n')
  }

  /**
   * Replaces oclif's handler: it ignores exit codes under --json and dumps the parse context on flag errors
   * (oclif 4's Command.catch). We print the envelope or a short message ourselves and set the exit code.
   */
  public async catch(error: Error & {exitCode?: number}): Promise<void> {
    const e = this.normalize(error)
    process.exitCode = e.exitCode
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(e))
      return
    }

    this.stderrLine(`${this.paint('red', 'Error')} [${e.code}]: ${e.message}`)
    if (e.hint) this.stderrLine(`${this.paint('dim', 'Hint:')} ${e.hint}`)
    if (e.exitCode === ExitCode.INTERNAL && process.env.DEBUG?.includes('agnes')) {
      const cause = e.cause instanceof Error ? e.cause : e
      this.stderrLine(cause.stack ?? String(cause))
    }
  }

  private normalize(error: unknown): AgnesError {
    if (error instanceof AgnesError) return error
    if (this.signal.aborted) return this.signal.reason instanceof AgnesError ? this.signal.reason : new InterruptedError()
    if (error instanceof Error && (PARSE_ERROR_NAMES.has(error.constructor.name) || 'parse' in error)) return usageErrorFrom(error, this.commandShape(), this.argv)

    return toAgnesError(error)
  }

  private commandShape(): CommandShape {
    return {args: this.ctor.args ?? {}, flags: {...(super.ctor as typeof AgnesCommand).baseFlags, ...this.ctor.flags}, id: this.id}
  }

  /** A task list (listr2, loaded only then) for multi-step work on a terminal; lines otherwise. */
  private async openProgress(chalk: ChalkInstance | undefined): Promise<ProgressSink> {
    const style = chooseProgressStyle({
      columns: process.stdout.columns,
      env: process.env,
      json: this.jsonEnabled(),
      multiStep: (this.constructor as typeof AgnesCommand).multiStep,
      stderrTTY: Boolean(process.stderr.isTTY),
    })
    if (style !== 'task-list') {
      return new LineReporter({paint: this.painter, timestamps: style === 'timestamped', write: (line) => process.stderr.write(line + '\n')})
    }

    const {TaskListReporter} = await import('./lib/ui/task-list.js')
    const taskList = await TaskListReporter.create({chalk: chalk ?? (await loadChalk(false)), stream: process.stderr})
    if (this.prompter) this.prompter = taskList.pausingDuring(this.prompter)
    return taskList
  }

  private removeSignalHandlers(): void {
    if (!this.signalHandler) return
    process.off('SIGINT', this.signalHandler)
    process.off('SIGTERM', this.signalHandler)
    this.signalHandler = undefined
  }
}
