import {access, stat} from 'node:fs/promises'
import {join, resolve} from 'node:path'

import {InvalidInputError} from '../errors.js'
import {validateVersionTag} from '../image-registry/versions.js'
import {validateChoice} from '../validate.js'
import {HTTP_BINDS, HttpBind} from './types.js'

export const MIN_ADMIN_PASSWORD_LENGTH = 8
const GCP_PROJECT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/
const BIGQUERY_LOCATION = /^[a-z]+(-[a-z0-9]+)*$/i

/** Turns a throwing check into a prompt validator: the message is shown under the prompt, which asks again. */
export function promptCheck(check: (value: string) => unknown): (value: string) => true | string {
  return (value) => {
    try {
      check(value)
      return true
    } catch (error) {
      return (error as Error).message
    }
  }
}

export function checkedPin(value: string): string {
  const pin = value.trim()
  try {
    validateVersionTag(pin)
  } catch (error) {
    if (error instanceof InvalidInputError) throw new InvalidInputError(`--pin: ${error.message}`, {hint: error.hint})
    throw error
  }

  return pin
}

export function checkBigqueryProject(value: string): string {
  if (!GCP_PROJECT.test(value)) throw new InvalidInputError(`--bigquery-project: "${value}" is not a valid GCP project id`, {hint: 'Project ids are 6–30 lowercase letters, digits and hyphens.'})
  return value
}

export function checkBigqueryLocation(value: string): string {
  if (!BIGQUERY_LOCATION.test(value)) throw new InvalidInputError(`--bigquery-location: "${value}" is not a BigQuery location`, {hint: 'Use the location of the BigQuery dataset, e.g. us, eu or europe-west1.'})
  return value
}

export function checkAdminPassword(value: string): string {
  if (value.length < MIN_ADMIN_PASSWORD_LENGTH) {
    throw new InvalidInputError(`the admin password must have at least ${MIN_ADMIN_PASSWORD_LENGTH} characters`, {hint: `Choose a longer password (at least ${MIN_ADMIN_PASSWORD_LENGTH} characters), or leave it out and set it later with \`agnes configure\`.`})
  }

  return value
}

/** The wizard's password answer: empty (set it later) or long enough. */
export function adminPasswordAnswer(value: string): true | string {
  return value === '' ? true : promptCheck(checkAdminPassword)(value)
}

export function checkBind(value: string, tls: string): HttpBind {
  const bind = validateChoice(value, HTTP_BINDS, '--bind')
  if (bind === '0.0.0.0' && tls !== 'none') {
    throw new InvalidInputError('--bind 0.0.0.0 with TLS would publish the plain-HTTP app port next to Caddy', {hint: 'Leave out --bind: with TLS the app port is on 127.0.0.1 and Caddy serves the public ports.'})
  }

  return bind
}

export async function checkCertDir(dir: string, flag: string): Promise<string> {
  const absolute = resolve(dir)
  for (const name of ['fullchain.pem', 'privkey.pem']) {
    try {
      await access(join(absolute, name))
    } catch {
      throw new InvalidInputError(`${flag}: ${join(absolute, name)} is missing`, {hint: 'The directory must hold fullchain.pem and privkey.pem (both non-empty).'})
    }
  }

  for (const name of ['fullchain.pem', 'privkey.pem']) {
    if ((await stat(join(absolute, name))).size === 0) throw new InvalidInputError(`${flag}: ${join(absolute, name)} is empty`, {hint: `Put the PEM file there (${name}), then re-run.`})
  }

  return absolute
}
