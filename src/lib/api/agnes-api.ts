import type {HealthBody, VersionBody} from '../deploy/health.js'
import {registerSecret} from '../secrets/redact.js'
import {ApiClient, unexpectedAnswer} from './client.js'
import {describeDetail} from './errors.js'

export type {HealthBody, VersionBody} from '../deploy/health.js'

/** GET /api/health/detailed (schema: test/standin/openapi-subset.json). */
export interface DetailedHealthBody {
  status?: 'healthy' | 'degraded' | 'unhealthy' | string
  caller_role?: string
  version?: string
  channel?: string
  image_tag?: string
  schema_version?: number
  services?: Record<string, {status?: string; audience?: string; detail?: string; [key: string]: unknown}>
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed'

export interface Job {
  id: string
  kind: string
  status: JobStatus | string
  error?: string | null
  attempts?: number
  created_at?: string
  started_at?: string | null
  finished_at?: string | null
  [key: string]: unknown
}

/** Request bodies: field names and types follow the OpenAPI subset exactly. */
export interface BootstrapRequest {
  email: string
  name?: string
  password?: string
}

export interface ConfigureRequest {
  data_source: 'keboola' | 'bigquery' | 'local'
  keboola_token?: string
  keboola_url?: string
  bigquery_project?: string
  bigquery_location?: string
  instance_name?: string
  allowed_domain?: string
  confirm_connection_change?: boolean
}

export interface RegisterTableRequest {
  name: string
  source_type?: string
  bucket?: string
  source_table?: string
  query_mode?: string
  sync_strategy?: string
  primary_key?: string[]
  description?: string
  sync_schedule?: string
}

export interface ConfigureResponse {
  status: string
  data_source: string
  connection: string
}

/** The structured 409 of POST /api/admin/configure (BREAKING in Agnes 0.84.5). */
export interface ConnectionChange {
  source: string
  changes: Array<{field: string; before: unknown; after: unknown}>
  affectedTables: number
  sampleTables: string[]
  hint?: string
}

export interface DiscoverResponse {
  registered: number
  skipped: number
  errors: number
  drifted: number
  tables: string[]
  drift: unknown[]
  invalid: unknown[]
  source: string
  dry_run: boolean
  would_register?: string[]
}

export interface RegisterTableResponse {
  id: string
  name: string
  status: string
  message?: string
  view_name?: string
  errors?: unknown
  detail?: unknown
}

export type RegisterTableOutcome =
  | {kind: 'registered'; httpStatus: number; body: RegisterTableResponse}
  | {kind: 'exists'; message: string}
  | {kind: 'rebuild-failed'; httpStatus: number; body: RegisterTableResponse; message: string}

export interface RegistryRow {
  id: string
  name: string
  source_type?: string
  bucket?: string | null
  source_table?: string | null
  query_mode?: string
  sync_strategy?: string
  last_sync_status?: string
  last_sync_error?: string | null
  [key: string]: unknown
}

export interface CatalogTable {
  id: string
  name: string
  description?: string | null
  source_type?: string
  sync_strategy?: string
  query_mode?: string
}

export interface QueryResponse {
  columns: string[]
  rows: unknown[][]
  row_count: number
  truncated: boolean
}

export type SyncTriggerOutcome =
  | {kind: 'triggered'; jobId?: string; tables: unknown}
  /** 409 sync_already_in_progress: the new object detail carries the job id, the pre-0.75 string detail does not. */
  | {kind: 'already-running'; jobId?: string}

export type BootstrapOutcome = {kind: 'created'; email: string; role: string} | {kind: 'locked'; message: string}

export type TokenCheck = {kind: 'valid'; role: string} | {kind: 'rejected'; message: string} | {kind: 'unavailable'; message: string}

const SYNC_IN_PROGRESS = 'sync_already_in_progress'
const CONNECTION_CHANGE = 'connection_change_affects_registrations'

function detailOf(body: unknown): unknown {
  return body !== null && typeof body === 'object' && 'detail' in body ? (body as {detail: unknown}).detail : undefined
}

/** Typed calls of the Agnes endpoints the CLI uses (schemas: test/standin/openapi-subset.json). */
export class AgnesApi {
  constructor(readonly client: ApiClient) {}

  get baseUrl(): string {
    return this.client.baseUrl
  }

  async health(): Promise<HealthBody> {
    const {body} = await this.client.get<HealthBody>('/api/health', {authenticate: false})
    if (body === null || typeof body !== 'object' || typeof body.status !== 'string') throw unexpectedAnswer('GET /api/health', 'no "status" field')
    return body
  }

  async healthDetailed(): Promise<DetailedHealthBody> {
    const {body} = await this.client.get<DetailedHealthBody>('/api/health/detailed')
    if (body === null || typeof body !== 'object') throw unexpectedAnswer('GET /api/health/detailed', 'not a JSON object')
    return body
  }

  async version(): Promise<VersionBody> {
    return (await this.client.get<VersionBody>('/api/version', {authenticate: false})).body
  }

  async syncStatus(): Promise<{locked: boolean}> {
    const {body} = await this.client.get<{locked?: unknown}>('/api/sync/status', {authenticate: false})
    return {locked: body?.locked === true}
  }

  async listJobs(filter: {kind?: string; status?: string; limit?: number} = {}): Promise<Job[]> {
    const {body} = await this.client.get<{jobs?: Job[]} | Job[]>('/api/jobs', {query: filter})
    return Array.isArray(body) ? body : (body?.jobs ?? [])
  }

  async getJob(id: string): Promise<Job> {
    const {body} = await this.client.get<{job?: Job}>(`/api/jobs/${encodeURIComponent(id)}`)
    if (!body?.job) throw unexpectedAnswer(`GET /api/jobs/${id}`, 'no "job" field')
    return body.job
  }

  /**
   * POST /auth/bootstrap. A 403 means the instance already has an admin (or a password-holding user). The
   * caller registers the password for redaction (it must stay printable when --reveal-password asks for it).
   */
  async bootstrap(request: BootstrapRequest, bootstrapToken?: string): Promise<BootstrapOutcome> {
    registerSecret(bootstrapToken)
    const response = await this.client.post<{access_token?: string; email?: string; role?: string}>('/auth/bootstrap', request, {
      acceptStatus: [403],
      authenticate: false,
      headers: bootstrapToken ? {'x-bootstrap-token': bootstrapToken} : {},
    })
    if (response.status === 403) return {kind: 'locked', message: describeDetail(response.body, 'bootstrap is locked').message}
    registerSecret(response.body?.access_token)
    return {email: response.body?.email ?? request.email, kind: 'created', role: response.body?.role ?? 'admin'}
  }

  /**
   * POST /auth/token: proves that an account with this password exists, and says its role. The session
   * token it returns is dropped at once.
   */
  async checkPassword(email: string, password: string): Promise<TokenCheck> {
    registerSecret(password)
    const response = await this.client.post<{access_token?: string; role?: string}>('/auth/token', {email, password}, {
      acceptStatus: [401, 404],
      authenticate: false,
    })
    if (response.status === 404) return {kind: 'unavailable', message: 'password login is disabled on this instance'}
    if (response.status === 401) return {kind: 'rejected', message: describeDetail(response.body, 'rejected').message}
    registerSecret(response.body?.access_token)
    return {kind: 'valid', role: response.body?.role ?? 'user'}
  }

  /**
   * POST /api/admin/configure. Repeating the same body changes nothing, so it is retried while the instance
   * boots. The 409 that guards registered tables comes back as a ConnectionChange to decide on.
   */
  async configure(request: ConfigureRequest): Promise<{kind: 'configured'; body: ConfigureResponse} | {kind: 'connection-change'; change: ConnectionChange}> {
    registerSecret(request.keboola_token)
    const path = '/api/admin/configure'
    const response = await this.client.post<ConfigureResponse>(path, request, {acceptStatus: [409], idempotent: true})
    if (response.status !== 409) return {body: response.body, kind: 'configured'}
    const detail = detailOf(response.body) as Record<string, unknown> | undefined
    if (detail?.error !== CONNECTION_CHANGE) throw this.client.errorFor('POST', path, response)
    return {
      change: {
        affectedTables: typeof detail.affected_tables === 'number' ? detail.affected_tables : 0,
        changes: Array.isArray(detail.changes) ? (detail.changes as ConnectionChange['changes']) : [],
        hint: typeof detail.hint === 'string' ? detail.hint : undefined,
        sampleTables: Array.isArray(detail.sample_tables) ? detail.sample_tables.map(String) : [],
        source: String(detail.source ?? request.data_source),
      },
      kind: 'connection-change',
    }
  }

  /** Discovery never overwrites registered rows, so repeating it is safe. */
  async discoverAndRegister(options: {dryRun: boolean}): Promise<DiscoverResponse> {
    const {body} = await this.client.post<DiscoverResponse>('/api/admin/discover-and-register', undefined, {
      idempotent: true,
      query: {dry_run: options.dryRun},
      timeoutMs: 120_000,
    })
    return body
  }

  /** POST /api/admin/register-table: not repeated on its own (a second call is a 409). */
  async registerTable(request: RegisterTableRequest): Promise<RegisterTableOutcome> {
    const path = '/api/admin/register-table'
    const response = await this.client.post<RegisterTableResponse>(path, request, {acceptStatus: [409, 500], timeoutMs: 60_000})
    if (response.status === 409) return {kind: 'exists', message: describeDetail(response.body, 'already registered').message}
    if (response.status === 500) {
      const body = (response.body ?? {}) as RegisterTableResponse & {detail?: unknown}
      const inner = body.detail !== null && typeof body.detail === 'object' ? (body.detail as RegisterTableResponse) : undefined
      const failed = body.status === 'rebuild_failed' ? body : inner?.status === 'rebuild_failed' ? inner : undefined
      if (!failed) throw this.client.errorFor('POST', path, response)
      return {body: failed, httpStatus: 500, kind: 'rebuild-failed', message: describeDetail(response.body, 'the view rebuild failed').message}
    }

    return {body: response.body, httpStatus: response.status, kind: 'registered'}
  }

  async registry(): Promise<RegistryRow[]> {
    const {body} = await this.client.get<{tables?: RegistryRow[]}>('/api/admin/registry')
    if (!Array.isArray(body?.tables)) throw unexpectedAnswer('GET /api/admin/registry', 'no "tables" list')
    return body.tables
  }

  async catalogTables(): Promise<{tables: CatalogTable[]; count: number}> {
    const {body} = await this.client.get<{tables?: CatalogTable[]; count?: number}>('/api/catalog/tables')
    if (!Array.isArray(body?.tables)) throw unexpectedAnswer('GET /api/catalog/tables', 'no "tables" list')
    return {count: typeof body.count === 'number' ? body.count : body.tables.length, tables: body.tables}
  }

  /** POST /api/query runs one SELECT: reading twice is harmless. */
  async query(sql: string, limit = 1000): Promise<QueryResponse> {
    const {body} = await this.client.post<QueryResponse>('/api/query', {limit, sql}, {idempotent: true, timeoutMs: 60_000})
    if (!Array.isArray(body?.rows)) throw unexpectedAnswer('POST /api/query', 'no "rows" list')
    return body
  }

  /** POST /api/sync/trigger. Another sync in flight (409, either detail shape) is reported, not thrown. */
  async syncTrigger(tables?: string[]): Promise<SyncTriggerOutcome> {
    const path = '/api/sync/trigger'
    const response = await this.client.post<{job_id?: string; tables?: unknown}>(path, tables === undefined ? undefined : {tables}, {acceptStatus: [409]})
    if (response.status === 409) {
      const detail = detailOf(response.body)
      if (detail === SYNC_IN_PROGRESS) return {kind: 'already-running'}
      if (detail !== null && typeof detail === 'object' && (detail as {error?: unknown}).error === SYNC_IN_PROGRESS) {
        const jobId = (detail as {job_id?: unknown}).job_id
        return {jobId: typeof jobId === 'string' ? jobId : undefined, kind: 'already-running'}
      }

      throw this.client.errorFor('POST', path, response)
    }

    return {jobId: typeof response.body?.job_id === 'string' ? response.body.job_id : undefined, kind: 'triggered', tables: response.body?.tables}
  }
}
