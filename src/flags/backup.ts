import {Flags} from '@oclif/core'

import {switchFlags} from './switch.js'

/** Flags of the commands that stop the app to copy its state (backup, restore). */
export const pauseFlags = {
  'health-timeout': Flags.integer({default: 300, description: 'Seconds the app has to become healthy again after its state was copied.', env: 'AGNES_HEALTH_TIMEOUT', min: 1, max: 86_400}),
  quiet: switchFlags.quiet,
}
