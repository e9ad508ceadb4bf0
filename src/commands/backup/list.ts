import {AgnesCommand} from '../../base-command.js'
import type {BackupInfo} from '../../lib/backup/retention.js'
import {formatSize} from './index.js'

const KIND_NAMES: Record<BackupInfo['kind'], string> = {manual: 'manual', 'pre-restore': 'before a restore', switch: 'before a switch'}

export default class BackupList extends AgnesCommand<typeof BackupList> {
  static description = `List the state backups of this instance, newest first: id, time, size, and who took it (manual, before a switch such as an upgrade, or before a restore).

With --json the result is an array of {id, file, size, createdAt, label, kind}.`

  static examples = ['<%= config.bin %> backup list --dir /opt/agnes', '<%= config.bin %> backup list --json']

  protected async execute(): Promise<BackupInfo[]> {
    const {listInstanceBackups} = await import('../../lib/backup/manual.js')
    return listInstanceBackups(this.instanceDir)
  }

  protected render(result: BackupInfo[]): void {
    if (result.length === 0) {
      this.out('No backups yet (`agnes backup` takes one).')
      return
    }

    for (const backup of result) {
      const label = backup.kind === 'switch' ? `${KIND_NAMES.switch} (left ${backup.label})` : KIND_NAMES[backup.kind]
      this.out(`${backup.id}  ${backup.createdAt}  ${formatSize(backup.size).padStart(10)}  ${label}`)
    }
  }
}
