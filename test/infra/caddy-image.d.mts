// Types for caddy-image.mjs (so TypeScript tests can import it).

export const CADDY_REPOSITORY: string
/** A Caddy 2.6 binary: the installed one, or one unpacked from Debian's package (downloaded with apt when missing). */
export function caddyBinary(): Promise<string>
/** Builds the FROM-scratch Caddy image when its inputs changed and makes sure the local registry has it. */
export function ensureCaddyImage(options?: {repository?: string}): Promise<{reference: string; version: string; built: boolean; seconds: number}>
