import {InvalidInputError} from './errors.js'

/**
 * Validators for user input. Each returns the normalised value or throws InvalidInputError (exit 3) with a
 * message that says what was wrong and what a good value looks like.
 */

const EMAIL_PATTERN = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/
const HOSTNAME_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

export function validateEmail(value: string, flag: string): string {
  const email = value.trim()
  if (email.length > 254 || !EMAIL_PATTERN.test(email)) {
    throw new InvalidInputError(`${flag}: "${value}" is not a valid email address`, {hint: 'Use a full address such as admin@example.com.'})
  }

  return email
}

export function validatePort(value: string | number, flag: string): number {
  const text = String(value).trim()
  const port = Number(text)
  if (!/^\d+$/.test(text) || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new InvalidInputError(`${flag}: "${value}" is not a valid TCP port`, {hint: 'Use a whole number from 1 to 65535, e.g. 8000.'})
  }

  return port
}

export function validateDomain(value: string, flag: string): string {
  const domain = value.trim().toLowerCase().replace(/\.$/, '')
  const labels = domain.split('.')
  const valid =
    domain.length > 0 &&
    domain.length <= 253 &&
    labels.length >= 2 &&
    labels.every((label) => HOSTNAME_LABEL.test(label)) &&
    !/^\d+$/.test(labels.at(-1) ?? '')
  if (!valid) {
    throw new InvalidInputError(`${flag}: "${value}" is not a valid domain name`, {
      hint: 'Use the public host name only, without scheme or path, e.g. agnes.example.com.',
    })
  }

  return domain
}

/** Docker memory sizes: 512m, 4g, 1.5g. */
export function validateMemory(value: string, flag: string): string {
  const memory = value.trim().toLowerCase()
  const match = /^(\d+(?:\.\d+)?)([kmg])b?$/.exec(memory)
  const bytes = match ? Number(match[1]) * {g: 1024 ** 3, k: 1024, m: 1024 ** 2}[match[2] as 'g' | 'k' | 'm'] : 0
  if (!match || bytes < 64 * 1024 ** 2) {
    throw new InvalidInputError(`${flag}: "${value}" is not a valid memory limit`, {hint: 'Use a size of at least 64m, such as 512m, 4g or 1.5g.'})
  }

  return memory
}

export function validateCpus(value: string, flag: string): string {
  const text = value.trim()
  const cpus = Number(text)
  if (!/^\d+(\.\d+)?$/.test(text) || !(cpus > 0) || cpus > 1024) {
    throw new InvalidInputError(`${flag}: "${value}" is not a valid CPU limit`, {hint: 'Use a positive number of CPUs, such as 0.5, 1 or 2.0.'})
  }

  return text
}

/** An absolute http(s) URL without credentials; returned without a trailing slash. */
export function validateHttpUrl(value: string, flag: string): string {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new InvalidInputError(`${flag}: "${value}" is not a valid URL`, {hint: 'Use an absolute URL such as https://connection.keboola.com.'})
  }

  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidInputError(`${flag}: the URL must start with https:// or http://`, {hint: 'Use an absolute URL such as https://connection.keboola.com.'})
  }

  if (url.username || url.password) {
    throw new InvalidInputError(`${flag}: the URL must not contain credentials`, {hint: 'Give secrets through their own environment variable or file.'})
  }

  return url.toString().replace(/\/$/, '')
}

export function validateChoice<T extends string>(value: string, choices: readonly T[], flag: string): T {
  const normalised = value.trim().toLowerCase()
  if (!(choices as readonly string[]).includes(normalised)) {
    throw new InvalidInputError(`${flag}: "${value}" is not one of ${choices.join(', ')}`, {hint: `Pass ${flag} with one of: ${choices.join(', ')}.`})
  }

  return normalised as T
}
