import {AgnesCommand} from '../../base-command.js'
import type {TakeBackupResult} from '../../lib/backup/manual.js'
import {pauseFlags} from '../../flags/backup.js'

export default class Backup extends AgnesCommand<typeof Backup> {
  static multiStep = true

  static description = `Back up the instance state (/data/state) now, into .agnes/backups.

Takes the instance lock, checks the engine, the compose files and the room on disk while the app keeps serving, then stops the app gracefully (a copy of a live DuckDB database is not consistent), copies the state, and starts the same deployment again behind the health gate. A run killed while the app is stopped leaves a journal: the next \`agnes up\` or \`agnes upgrade\` starts the app again. Manual backups are kept until you remove them; upgrades never prune one. \`agnes backup list\` shows them, \`agnes restore <id>\` restores one.`

  static examples = ['<%= config.bin %> backup --dir /opt/agnes', '<%= config.bin %> backup --json']

  static flags = {
    ...pauseFlags,
  }

  protected isQuiet(): boolean {
    return this.flags?.quiet ?? false
  }

  protected async execute(): Promise<TakeBackupResult> {
    const {takeBackup} = await import('../../lib/backup/manual.js')
    return takeBackup({dir: this.instanceDir, healthTimeoutMs: this.flags['health-timeout'] * 1000, reporter: this.reporter, signal: this.signal})
  }

  protected render(result: TakeBackupResult): void {
    this.out(`Backed up /data/state as ${result.backup.id} (${formatSize(result.backup.size)}): ${result.backup.file}`)
    this.out(`The app is running again. Restore it with \`agnes restore ${result.backup.id}\`; ${result.retention}.`)
  }
}

export function formatSize(bytes: number): string {
  if (bytes < 1024 ** 2) return `${Math.max(1, Math.ceil(bytes / 1024))} KiB`
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
}
