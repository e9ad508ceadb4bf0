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
