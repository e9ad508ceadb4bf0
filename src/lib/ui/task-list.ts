import type {ChalkInstance} from 'chalk'
import type {ListrTask} from 'listr2'

import type {Prompter} from './prompt.js'
import type {ProgressSink} from './reporter.js'

type Listr2 = typeof import('listr2')
type Outcome = 'done' | 'failed'

/** What a running step's listr2 task exposes to us. */
interface TaskHandle {
  title?: string
  output?: string
}

class Step {
  handle?: TaskHandle
  detail?: string
  readonly ended: Promise<Outcome>
  private resolve!: (outcome: Outcome) => void
  private finished = false

  constructor(readonly title: string) {
    this.ended = new Promise((resolve) => (this.resolve = resolve))
  }

  get running(): boolean {
    return !this.finished
  }

  show(detail: string): void {
    this.detail = detail
    if (this.handle) this.handle.output = detail
  }

  end(outcome: Outcome): void {
    this.finished = true
    this.resolve(outcome)
  }
}

type Entry = {kind: 'step'; step: Step} | {kind: 'warning'; text: string}

/**
 * One listr2 run, fed line by line. listr2 wants its tasks up front; the lib reports its steps as it goes, so
 * every task list ends with a title-less task that waits for the next entry and then appends it (and another
 * such task) as subtasks — title-less tasks render their subtasks at their own level, so the list stays flat.
 */
class Segment {
  readonly finished: Promise<void>
  private readonly queue: Entry[] = []
  private current?: Step
  private closed = false
  private wake?: () => void

  constructor(listr2: Listr2, stream: NodeJS.WriteStream, chalk: ChalkInstance) {
    const {DefaultRenderer, Listr, ListrDefaultRendererLogLevels: Level, ListrLogger, PRESET_TIMER, ProcessOutput, figures} = listr2
    // listr2 falls back to a line renderer on stdout when stdout is not a terminal (`agnes up > file`); ours
    // draws on stderr, which is.
    class StderrRenderer extends DefaultRenderer {
      static nonTTY = true
    }

    // Both of listr2's outputs go to stderr: stdout carries only the command's result.
    const logger = new ListrLogger({processOutput: new ProcessOutput(stream, stream, {leaveEmptyLine: false}), useIcons: true})
    const list = new Listr([this.continuation()], {
      fallbackRenderer: 'silent',
      registerSignalListeners: false,
      renderer: StderrRenderer,
      rendererOptions: {
        color: {
          [Level.COMPLETED]: chalk.green,
          [Level.FAILED]: chalk.red,
          [Level.PENDING]: chalk.yellow,
          [Level.SKIPPED_WITH_COLLAPSE]: chalk.yellow,
          [Level.WAITING]: chalk.dim,
        },
        icon: {[Level.SKIPPED_WITH_COLLAPSE]: figures.warning},
        logger,
        timer: {...PRESET_TIMER, condition: (duration: number) => duration >= 1000, format: () => chalk.dim},
      },
    })
    this.finished = list.run().then(
      () => {},
      () => {},
    )
  }

  progress(message: string): void {
    const running = this.current?.running ? this.current : undefined
    if (/^\s/.test(message) && running) {
      running.show(message.trim())
      return
    }

    running?.end('done')
    const step = new Step(message.trim())
    // "Pulling x…" is under way until the next step; "Pulled x in 3 s" is done when it is said.
    if (message.endsWith('…')) this.current = step
    else step.end('done')
    this.push({kind: 'step', step})
  }

  warn(message: string): void {
    if (this.current?.running) this.current.show(`Warning: ${message}`)
    this.push({kind: 'warning', text: message})
  }

  async close(outcome: Outcome): Promise<void> {
    if (this.current?.running) this.current.end(outcome)
    this.closed = true
    this.wake?.()
    await this.finished
  }

  private push(entry: Entry): void {
    this.queue.push(entry)
    this.wake?.()
  }

  private async next(): Promise<Entry | undefined> {
    while (this.queue.length === 0 && !this.closed) await new Promise<void>((resolve) => (this.wake = resolve))
    return this.queue.shift()
  }

  private continuation(): ListrTask {
    return {
      task: async (_context, task) => {
        const entry = await this.next()
        if (entry) return task.newListr([this.toTask(entry), this.continuation()])
      },
    }
  }

  private toTask(entry: Entry): ListrTask {
    if (entry.kind === 'warning') return {task: (_context, task) => task.skip(entry.text), title: entry.text}
    const {step} = entry
    return {
      task: async (_context, task) => {
        step.handle = task
        if (step.detail) task.output = step.detail
        const outcome = await step.ended
        task.title = step.title.replace(/…$/, '')
        if (outcome === 'failed') throw new Error(task.title)
      },
      title: step.title,
    }
  }
}

/**
 * Progress as a listr2 task list on a terminal: a line that ends in `…` is a step under way, an indented
 * line is its latest detail, any other line is a step done, a warning is marked as one. Prompts pause the
 * list (it ends, the prompt shows, the next line starts a new list).
 */
export class TaskListReporter implements ProgressSink {
  private segment?: Segment

  private constructor(
    private readonly listr2: Listr2,
    private readonly stream: NodeJS.WriteStream,
    private readonly chalk: ChalkInstance,
  ) {}

  /** Loads listr2 (lazily: only a terminal that shows a task list needs it). */
  static async create(options: {stream: NodeJS.WriteStream; chalk: ChalkInstance}): Promise<TaskListReporter> {
    return new TaskListReporter(await import('listr2'), options.stream, options.chalk)
  }

  progress(message: string): void {
    this.open().progress(message)
  }

  warn(message: string): void {
    this.open().warn(message)
  }

  async close(outcome: Outcome): Promise<void> {
    const {segment} = this
    this.segment = undefined
    await segment?.close(outcome)
  }

  /** A Prompter that ends the task list before each prompt, so the prompt is not drawn over. */
  pausingDuring(prompter: Prompter): Prompter {
    const paused = <A extends unknown[], R>(ask: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
      await this.close('done')
      return ask(...args)
    }

    return {
      confirm: paused(prompter.confirm.bind(prompter)),
      input: paused(prompter.input.bind(prompter)),
      password: paused(prompter.password.bind(prompter)),
      select: paused(prompter.select.bind(prompter)) as Prompter['select'],
    }
  }

  private open(): Segment {
    this.segment ??= new Segment(this.listr2, this.stream, this.chalk)
    return this.segment
  }
}
