// Types for images.mjs (so TypeScript tests can import it).

export const BASE_IMAGE: string
export const DEFAULT_SCHEMA_VERSION: number
export const STANDARD_RELEASES: ReadonlyArray<{tag: string; version: string; channel: string}>
export const STANDARD_ALIASES: Readonly<Record<string, string>>

export interface PublishOptions {
  /** e.g. '127.0.0.1:5000/my-test/agnes' */
  repository: string
  tag: string
  /** AGNES_VERSION, e.g. '0.84.2' */
  version: string
  /** RELEASE_CHANNEL, e.g. 'stable' or 'dev' */
  channel: string
  variant?: 'ok' | 'crash' | 'never-healthy' | 'schema-mismatch' | 'failing-smoke' | 'slow-boot'
  /** STANDIN_BOOT_SECONDS baked into the image; unset = 0 (30 for slow-boot). */
  bootSeconds?: number
  /** STANDIN_SCHEMA_VERSION, default 121 */
  schemaVersion?: number
  /** More ENV baked into the image. */
  extraEnv?: Record<string, string | number>
}

export interface PublishedImage {
  /** repository:tag */
  reference: string
  /** The registry manifest digest, sha256:... */
  digest: string
}

export function ensureBaseImage(options?: {force?: boolean}): Promise<{image: string; inputsHash: string; built: boolean; seconds: number}>
export function parseRepository(repository: string): {registryUrl: string; name: string}
export function manifestDigest(options: {repository: string; tag: string}): Promise<string | null>
export function publish(options: PublishOptions): Promise<PublishedImage>
export function moveTag(options: {repository: string; fromTag: string; toTag: string}): Promise<PublishedImage>
export function deleteTag(options: {repository: string; tag: string}): Promise<{reference: string; digest: string | null; deleted: boolean}>
/** Publishes STANDARD_RELEASES and points the STANDARD_ALIASES at them; returns tag → digest. */
export function standardSet(repository: string): Promise<Record<string, string>>
