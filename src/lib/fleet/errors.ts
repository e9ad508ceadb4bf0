import {AgnesError, DeferredError, InterruptedError, RollbackFailedError, RolledBackError, UnreachableError} from '../errors.js'
import type {FleetUpgradeResult} from './rollout.js'
import type {FleetStatusResult} from './status.js'

/** A fleet status with unreachable instances: exit 8, the whole report kept in the envelope. */
export function fleetStatusError(result: FleetStatusResult): AgnesError | undefined {
  if (result.unreachable === 0) return undefined
  const names = result.instances.filter((row) => !row.reachable).map((row) => row.name)
  return new UnreachableError(`${result.unreachable} of ${result.instances.length} instances could not be read: ${names.join(', ')}`, {
    hint: 'Each row says why (ssh, agnes missing or too old, not an instance); the others were read.',
    result,
  })
}

/** The outcome contract of `fleet upgrade` (docs/fleet.md): 10/11 halted, 8/75 incomplete, 130 interrupted. */
export function fleetUpgradeError(result: FleetUpgradeResult): AgnesError | undefined {
  const options = {result}
  switch (result.exitCode) {
    case 0: {
      return undefined
    }

    case 10: {
      return new RolledBackError(result.message, {...options, hint: 'The failed release is rejected where it ran and (halt: reject-fleet) on every instance; the next run skips it. See `agnes fleet status`.'})
    }

    case 11: {
      return new RollbackFailedError(result.message, {...options, hint: `A person is needed on ${result.haltedBy?.name}: \`agnes status\` there shows the next steps.`})
    }

    case 75: {
      return new DeferredError(result.message, {...options, hint: 'Some instances were busy, locked, or the channel moved; run `agnes fleet upgrade` again to resume.'})
    }

    case 130: {
      return new InterruptedError(result.message, options)
    }

    default: {
      return new UnreachableError(result.message, {...options, hint: 'Fix what the rows say (ssh, agnes on the host), then run `agnes fleet upgrade` again to resume.'})
    }
  }
}
