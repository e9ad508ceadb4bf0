#!/usr/bin/env node
// Bundles the CLI with esbuild.
//   node scripts/bundle.mjs        → dist/bundle/*.js: ESM, code-split, what bin/run.js runs
//   node scripts/bundle.mjs --sea  → dist-sea/agnes.cjs: one CommonJS script for the single executable
// The command list is generated from src/commands/** on every build, never kept by hand.
import {readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join, relative, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import {build} from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
const sea = process.argv.includes('--sea')

function filesUnder(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })
}

/** src/commands/schedule/install.ts → `schedule:install`, as oclif's own file discovery names it. */
function commandId(file) {
  const parts = relative(join(root, 'src', 'commands'), file).replace(/\.ts$/, '').split(sep)
  if (parts.at(-1) === 'index') parts.pop()
  return parts.join(':')
}

const commandFiles = filesUnder(join(root, 'src', 'commands')).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
const commandsModule = [
  ...commandFiles.map((file, index) => `import Command${index} from ${JSON.stringify(file)}`),
  'export const COMMANDS = {',
  ...commandFiles.map((file, index) => `  ${JSON.stringify(commandId(file))}: Command${index},`),
  '}',
].join('\n')

const templatesDir = join(root, 'templates')
const templates = Object.fromEntries(filesUnder(templatesDir).map((file) => [relative(templatesDir, file).split(sep).join('/'), readFileSync(file, 'utf8')]))

const virtualModules = {
  'agnes:cli': `export {execute} from '@oclif/core'`,
  'agnes:commands': commandsModule,
  'agnes:help': `export {default as AgnesHelp} from ${JSON.stringify(join(root, 'src', 'help.ts'))}`,
  'agnes:hooks': `export {default as commandNotFound} from ${JSON.stringify(join(root, 'src', 'hooks', 'command-not-found.ts'))}`,
}

const virtualModulesPlugin = {
  name: 'agnes-virtual-modules',
  setup(esbuild) {
    esbuild.onResolve({filter: /^agnes:/}, (args) => ({namespace: 'agnes', path: args.path}))
    // oclif's loggers: the real `debug` package loads only when DEBUG is set (scripts/bundle-debug.cjs).
    esbuild.onResolve({filter: /^debug$/}, () => ({path: join(root, 'scripts', 'bundle-debug.cjs')}))
    esbuild.onLoad({filter: /.*/, namespace: 'agnes'}, (args) => ({contents: virtualModules[args.path], loader: 'js', resolveDir: root}))
  },
}

// src/ imports every dependency lazily (await import()), so each becomes a lazy chunk: one file to load instead
// of dozens (dockerode, undici and execa cost 70–110 ms each on an upgrade tick from node_modules). A split chunk
// of a CommonJS module exports only `default`, so the CommonJS ones get an ESM facade naming their exports.
const facadePackages = ['dockerode', 'undici', 'yaml']
const requireFromHere = createRequire(import.meta.url)
const commonJsFacadesPlugin = {
  name: 'agnes-commonjs-facades',
  setup(esbuild) {
    esbuild.onResolve({filter: new RegExp(`^(${facadePackages.join('|')})$`)}, (args) => ({namespace: 'agnes-facade', path: args.path}))
    esbuild.onLoad({filter: /.*/, namespace: 'agnes-facade'}, (args) => {
      const names = Object.keys(requireFromHere(args.path)).filter((name) => name !== 'default' && /^[A-Za-z_$][\w$]*$/.test(name))
      const contents = `import m from ${JSON.stringify(requireFromHere.resolve(args.path))}\nexport const {${names.join(', ')}} = m\nexport default m`
      return {contents, loader: 'js', resolveDir: root}
    })
  },
}

const common = {
  bundle: true,
  // Read by src/lib/instance/managed-files.ts instead of the templates/ directory.
  define: {AGNES_TEMPLATES: JSON.stringify(templates)},
  // ssh2 (under dockerode) loads the native add-ons optionally, inside try/catch;
  // typescript: oclif reads a tsconfig only in development (bin/dev.js), never from the bundle.
  external: ['cpu-features', '*.node', 'typescript'],
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  minify: true,
  platform: 'node',
  plugins: [virtualModulesPlugin],
  target: 'node20',
}

// oclif and a few of its dependencies are CommonJS and call require() for Node's own modules.
const esmRequireBanner = [
  `import {createRequire as __agnesCreateRequire} from 'node:module';`,
  `import {dirname as __agnesDirname} from 'node:path';`,
  `import {fileURLToPath as __agnesFileURLToPath} from 'node:url';`,
  `const require = __agnesCreateRequire(import.meta.url);`,
  // ssh2 (under dockerode) reads __dirname.
  `const __filename = __agnesFileURLToPath(import.meta.url);`,
  `const __dirname = __agnesDirname(__filename);`,
].join('\n')

// The SEA's require() loads Node's own modules only, and warns on any other name: the optional packages left
// out of the bundle (external above) are simply not found, as in an install without them.
const seaRequireBanner = `'use strict';
var require = ((seaRequire) => {
  const notFound = (name) => Object.assign(new Error(\`Cannot find module '\${name}'\`), {code: 'MODULE_NOT_FOUND'});
  const builtinOnly = (name) => { if (seaRequire('node:module').isBuiltin(name)) return seaRequire(name); throw notFound(name); };
  return Object.assign(builtinOnly, {resolve: (name) => { throw notFound(name); }});
})(require);`

const outdir = join(root, sea ? 'dist-sea' : join('dist', 'bundle'))
rmSync(outdir, {force: true, recursive: true})

await (sea
  ? build({
      ...common,
      entryPoints: [join(root, 'scripts', 'bundle-sea-main.js')],
      banner: {js: seaRequireBanner},
      format: 'cjs',
      // Only src/lib/instance/managed-files.ts reads import.meta, on the path the inlined templates replace.
      logOverride: {'empty-import-meta': 'silent'},
      outfile: join(outdir, 'agnes.cjs'),
    })
  : build({
      ...common,
      banner: {js: esmRequireBanner},
      chunkNames: 'chunks/[name]-[hash]',
      entryPoints: {cli: 'agnes:cli', commands: 'agnes:commands', help: 'agnes:help', hooks: 'agnes:hooks', 'version-flag': join(root, 'src', 'version-flag.ts')},
      format: 'esm',
      outdir,
      plugins: [...common.plugins, commonJsFacadesPlugin],
      splitting: true,
    }))
