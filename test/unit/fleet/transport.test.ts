import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {parseInventory} from '../../../src/lib/fleet/inventory.js'
import {createSshTransport} from '../../../src/lib/fleet/transport.js'

let dir: string
let fakeAgnes: string

/** A stand-in `agnes` for `local` instances: logs its argv, answers --version, status and a broken command. */
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agnes-transport-'))
  fakeAgnes = join(dir, 'agnes')
  writeFileSync(
    fakeAgnes,
    `#!/bin/sh
printf '%s\\n' "$*" >> '${dir}/calls'
case "$1" in
  --version) echo 'agnes/0.1.0 linux-x64 node-v20' ;;
  status) echo '{"ok": true, "result": {"healthy": true}, "warnings": []}' ;;
  missing) echo 'sh: 1: agnes: not found' >&2; exit 127 ;;
  fleet) echo '{"ok": true, "result": {"agnesVersion": "0.1.0", "instances": []}, "warnings": []}' ;;
  upgrade) echo '{"ok": false, "error": {"code": "E_ROLLED_BACK", "message": "rolled back", "exitCode": 10}, "result": {"outcome": "rolled-back"}}'; exit 10 ;;
  *) echo 'Segmentation fault' >&2; exit 139 ;;
esac
`,
  )
  chmodSync(fakeAgnes, 0o755)
})

afterEach(() => rmSync(dir, {force: true, recursive: true}))

const inventory = () => parseInventory(`instances:\n  - {name: a, target: local, dir: "/srv/it's a"}\n  - {name: b, target: local, dir: /srv/b}\n`, 'fleet.yaml')

describe('the transport for local instances', () => {
  it('runs agnes with the instance directory and --json, and reads the exit code and envelope', async () => {
    const transport = await createSshTransport(inventory(), {...process.env, AGNES_FLEET_AGNES: fakeAgnes})
    const [a] = inventory().instances
    expect(await transport.agnes(a, ['status'])).toEqual({envelope: {ok: true, result: {healthy: true}, warnings: []}, exitCode: 0})
    expect(await transport.agnes(a, ['upgrade'])).toMatchObject({envelope: {ok: false, result: {outcome: 'rolled-back'}}, exitCode: 10})
    expect(await transport.agnes(a, ['smoke'])).toEqual({exitCode: 139, problem: 'agnes gave no JSON (exit 139): Segmentation fault'})
    expect(await transport.agnesOnHost(a, ['missing'])).toEqual({exitCode: 8, problem: 'agnes is not installed (or not on PATH) there: sh: 1: agnes: not found'})
    await transport.close()
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toContain("status --dir /srv/it's a --json")
  })

  it('runs a command for the host with --json and without an instance directory', async () => {
    const transport = await createSshTransport(inventory(), {...process.env, AGNES_FLEET_AGNES: fakeAgnes})
    const [a, b] = inventory().instances
    expect(await transport.agnesOnHost(a, ['fleet', 'host-status', a.dir, b.dir])).toMatchObject({envelope: {ok: true, result: {agnesVersion: '0.1.0'}}, exitCode: 0})
    await transport.close()
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toBe("fleet host-status /srv/it's a /srv/b --json\n")
  })

  it('asks a host for its agnes version once per run, for all its instances', async () => {
    const transport = await createSshTransport(inventory(), {...process.env, AGNES_FLEET_AGNES: fakeAgnes})
    const [a, b] = inventory().instances
    expect(await transport.version(a)).toEqual({version: '0.1.0'})
    expect(await transport.version(b)).toEqual({version: '0.1.0'})
    await transport.close()
    expect(readFileSync(join(dir, 'calls'), 'utf8').match(/--version/g)).toHaveLength(1)
  })
})
