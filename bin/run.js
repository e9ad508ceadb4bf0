#!/usr/bin/env node
// The bundled CLI (npm run build → dist/bundle); bin/dev.js runs the unbundled build instead.
import {readFileSync} from 'node:fs'

import {answerVersionFlag} from '../dist/bundle/version-flag.js'

const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
if (!answerVersionFlag(process.argv.slice(2), pjson, (text) => process.stdout.write(text))) {
  const {execute} = await import('../dist/bundle/cli.js')
  await execute({dir: import.meta.url})
}
