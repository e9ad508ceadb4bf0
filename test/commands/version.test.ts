// `agnes --version` alone is answered before oclif loads (src/version-flag.ts): it must print oclif's own line.
import {describe, expect, it} from 'vitest'

import {repoRoot, runAgnes} from '../helpers/run-cli.js'

describe('agnes --version', () => {
  it('prints the line oclif prints', async () => {
    const fast = await runAgnes(['--version'])
    const oclif = await runAgnes(['--version'], {executable: `${repoRoot}/bin/dev.js`})
    // With another word oclif answers, as before.
    const throughOclif = await runAgnes(['--version', '--json'])
    expect(fast).toMatchObject({exitCode: 0, stderr: ''})
    expect(fast.stdout).toMatch(/^agnes\/\d+\.\d+\.\d+ linux-\w+ node-v\d+/)
    expect(oclif).toMatchObject({exitCode: 0, stdout: fast.stdout})
    expect(throughOclif).toMatchObject({exitCode: 0, stdout: fast.stdout})
  })
})
