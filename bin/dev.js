#!/usr/bin/env node
// Development: the unbundled tsc output in dist/ (npm run build), commands found by scanning dist/commands.
import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {execute, Plugin} from '@oclif/core'

const root = fileURLToPath(new URL('..', import.meta.url))
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
pjson.oclif = {
  ...pjson.oclif,
  commands: './dist/commands',
  helpClass: './dist/help',
  hooks: {command_not_found: './dist/hooks/command-not-found.js'},
}

// oclif.manifest.json describes the bundle's commands (dist/bundle): the dev run ignores it.
const cli = new Plugin({ignoreManifest: true, isRoot: true, pjson, root})
await cli.load()

await execute({loadOptions: {pjson, plugins: new Map([[cli.name, cli]]), root}})
