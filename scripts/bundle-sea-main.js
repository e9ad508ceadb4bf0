// The single executable's entry point, bundled by `node scripts/bundle.mjs --sea` into one CommonJS script.
// A Node SEA cannot import files, so oclif's module loader is pointed at the commands, the help class and
// the command_not_found hook held in memory; package.json's oclif targets name them by file.
const {basename, dirname} = require('node:path')

const pjson = require('../package.json')
const {answerVersionFlag} = require('../src/version-flag.ts')

function run() {
  const {execute} = require('@oclif/core')
  // The very module object oclif calls through (its code reads `module_loader_1.load` at each call).
  const moduleLoader = require('../node_modules/@oclif/core/lib/module-loader.js')
  const inMemory = {
    'commands.js': require('agnes:commands'),
    'help.js': require('agnes:help'),
    'hooks.js': require('agnes:hooks'),
  }

  function moduleFor(path) {
    const module = inMemory[basename(path)]
    if (module === undefined) throw new Error(`${path} is not part of the agnes executable`)
    return module
  }

  moduleLoader.load = async (_config, path) => moduleFor(path)
  moduleLoader.loadWithData = async (_config, path) => ({filePath: path, isESM: false, module: moduleFor(path)})

  // The root must exist; there is no package.json or manifest to read next to the binary.
  execute({loadOptions: {ignoreManifest: true, pjson, root: dirname(process.execPath)}})
}

// A single executable's argv starts with its own path twice, so the words follow at 2 as with bin/run.js.
if (!answerVersionFlag(process.argv.slice(2), pjson, (text) => process.stdout.write(text))) run()
