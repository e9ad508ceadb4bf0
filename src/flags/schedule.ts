import {Flags} from '@oclif/core'

/** Flags of every `agnes schedule` command. */
export const scheduleFlags = {
  root: Flags.string({
    default: '/',
    description: 'Directory the schedule files are written under (for tests and images); systemctl then works offline on it.',
    env: 'AGNES_SCHEDULE_ROOT',
  }),
}
