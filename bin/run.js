#!/usr/bin/env node
// The bundled CLI (npm run build → dist/bundle); bin/dev.js runs the unbundled build instead.
import {execute} from '../dist/bundle/cli.js'

await execute({dir: import.meta.url})
