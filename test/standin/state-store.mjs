// The stand-in's persistent state: one JSON file under ${DATA_DIR}/state, written atomically.
// Schema handling follows real Agnes (DuckDB backend): migrate forward with a `.pre-migrate` snapshot,
// never downgrade; a state that is ahead of the build makes /api/health report a mismatch.
import {closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync} from 'node:fs'
import {join} from 'node:path'

export const STATE_FILE_NAME = 'standin-state.json'

function emptyState(schemaVersion) {
  return {schema_version: schemaVersion, users: [], instance: {}, tables: [], jobs: [], access_tokens: []}
}

export function writeFileAtomic(path, text, mode = 0o600) {
  const temporaryPath = `${path}.tmp-${process.pid}`
  const fd = openSync(temporaryPath, 'w', mode)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temporaryPath, path)
}

export class StateStore {
  /**
   * Load (or create) the state and apply the schema rule.
   * Returns the store and the schema check result {db_schema: 'ok'|'mismatch', current, expected}.
   */
  static open({stateDir, expectedSchemaVersion, log}) {
    mkdirSync(stateDir, {recursive: true, mode: 0o700})
    const store = new StateStore(join(stateDir, STATE_FILE_NAME))
    if (!existsSync(store.path)) {
      store.data = emptyState(expectedSchemaVersion)
      store.save()
      log.info(`Initialised new state at schema v${expectedSchemaVersion}`)
    } else {
      store.data = {...emptyState(expectedSchemaVersion), ...JSON.parse(readFileSync(store.path, 'utf8'))}
    }
    const current = store.data.schema_version
    if (current < expectedSchemaVersion) {
      copyFileSync(store.path, `${store.path}.pre-migrate`)
      store.data.schema_version = expectedSchemaVersion
      store.save()
      log.info(`Migrated state schema v${current} -> v${expectedSchemaVersion} (snapshot ${STATE_FILE_NAME}.pre-migrate)`)
    } else if (current > expectedSchemaVersion) {
      log.warn(`State schema v${current} is ahead of this build (expects v${expectedSchemaVersion}); not downgrading`)
      return {store, schema: {db_schema: 'mismatch', current, expected: expectedSchemaVersion}}
    }
    return {store, schema: {db_schema: 'ok', current: expectedSchemaVersion, expected: expectedSchemaVersion}}
  }

  constructor(path) {
    this.path = path
    this.data = undefined
  }

  save() {
    writeFileAtomic(this.path, `${JSON.stringify(this.data, null, 2)}\n`)
  }
}
