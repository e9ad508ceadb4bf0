import type {EnvFile} from '../instance/env-file.js'
import type {InstancePaths} from '../instance/paths.js'
import type {Channel, InstanceState, TlsMode} from '../instance/state.js'

export const DEFAULT_REPOSITORY = 'ghcr.io/keboola/agnes-the-ai-analyst'
export const DATA_SOURCES = ['keboola', 'bigquery', 'local'] as const
export type DataSource = (typeof DATA_SOURCES)[number]
export const HTTP_BINDS = ['0.0.0.0', '127.0.0.1'] as const
export type HttpBind = (typeof HTTP_BINDS)[number]
export const TLS_MODES: readonly TlsMode[] = ['none', 'acme', 'internal', 'files']

/** Everything `agnes init` needs, validated. Secrets are kept apart and never shown. */
export interface InitSettings {
  repository: string
  channel: Channel
  pin?: string
  httpPort: number
  /** The host address the app port is published on: 127.0.0.1 behind a proxy on this host (or Caddy), 0.0.0.0 otherwise. */
  bind: HttpBind
  tls: TlsMode
  domain?: string
  acmeEmail?: string
  tlsCertDir?: string
  adminEmail: string
  dataSource: DataSource
  keboolaUrl?: string
  bigqueryProject?: string
  bigqueryLocation?: string
  memory: string
  cpus: string
}

export interface InitSecrets {
  keboolaToken?: string
  adminPassword?: string
}

/** What is already in the directory, used as defaults on a re-run. */
export interface ExistingInstance {
  paths: InstancePaths
  state?: InstanceState
  env?: EnvFile
  instanceYaml?: string
}

export type FileAction = 'create' | 'update' | 'unchanged' | 'keep'

export interface PlannedFile {
  path: string
  action: FileAction
  mode: number
  /** A unified diff with secret values masked; only for updates. */
  diff?: string
  note?: string
  content: string
}

export interface InitPlan {
  dir: string
  fresh: boolean
  files: PlannedFile[]
  generatedSecrets: string[]
  warnings: string[]
  state: InstanceState
}
