import {describe, expect, it} from 'vitest'

import {InvalidInputError} from '../../src/lib/errors.js'
import {
  validateChoice,
  validateCpus,
  validateDomain,
  validateEmail,
  validateHttpUrl,
  validateMemory,
  validatePort,
} from '../../src/lib/validate.js'

/** Runs a validator that must fail; checks the error class, exit code, code and that the flag is named. */
function rejects(run: () => unknown, flag: string): InvalidInputError {
  let caught: unknown
  try {
    run()
  } catch (error) {
    caught = error
  }

  expect(caught, 'expected the value to be rejected').toBeInstanceOf(InvalidInputError)
  const error = caught as InvalidInputError
  expect(error.exitCode).toBe(3)
  expect(error.code).toBe('E_INVALID')
  expect(error.message).toContain(flag)
  return error
}

describe('validateEmail', () => {
  it('accepts and trims valid addresses', () => {
    expect(validateEmail('admin@example.com', '--admin-email')).toBe('admin@example.com')
    expect(validateEmail('  ops+agnes@sub.example.co.uk ', '--admin-email')).toBe('ops+agnes@sub.example.co.uk')
    expect(validateEmail("o'brien@example.org", '--admin-email')).toBe("o'brien@example.org")
  })

  it.each(['admin', 'admin@', '@example.com', 'admin@localhost', 'admin@example.c', 'a b@example.com', 'a@b@example.com', 'admin@-example.com', 'admin@example-.com', 'admin@exa_mple.com', 'admin@example..com', ''])(
    'rejects %j naming the flag, with a hint',
    (value) => {
      const error = rejects(() => validateEmail(value, '--admin-email'), '--admin-email')
      expect(error.hint).toMatch(/admin@example\.com/)
    },
  )

  it('rejects an address longer than 254 characters', () => {
    const long = `${'a'.repeat(60)}@${Array.from({length: 4}, () => 'b'.repeat(60)).join('.')}.com`
    expect(long.length).toBeGreaterThan(254)
    rejects(() => validateEmail(long, '--acme-email'), '--acme-email')
  })
})

describe('validatePort', () => {
  it('accepts 1..65535 as numbers or strings, trimming spaces', () => {
    expect(validatePort('80', '--http-port')).toBe(80)
    expect(validatePort(' 80 ', '--http-port')).toBe(80)
    expect(validatePort(8000, '--http-port')).toBe(8000)
    expect(validatePort('1', '--http-port')).toBe(1)
    expect(validatePort('65535', '--http-port')).toBe(65_535)
  })

  it.each(['0', '65536', '80a', 'a80', '-1', '8e3', '1.5', '', ' ', '0x50', '99999999999999999999'])('rejects %j', (value) => {
    const error = rejects(() => validatePort(value, '--http-port'), '--http-port')
    expect(error.hint).toMatch(/1 to 65535/)
  })

  it('rejects non-integral and out-of-range numbers', () => {
    rejects(() => validatePort(0, '--http-port'), '--http-port')
    rejects(() => validatePort(65_536, '--http-port'), '--http-port')
    rejects(() => validatePort(80.5, '--http-port'), '--http-port')
    rejects(() => validatePort(Number.NaN, '--http-port'), '--http-port')
  })
})

describe('validateDomain', () => {
  it('normalises case and a trailing dot', () => {
    expect(validateDomain('Agnes.Example.COM', '--domain')).toBe('agnes.example.com')
    expect(validateDomain('agnes.example.com.', '--domain')).toBe('agnes.example.com')
    expect(validateDomain('  agnes.example.com  ', '--domain')).toBe('agnes.example.com')
  })

  it('accepts hyphens inside labels, punycode and 63-character labels', () => {
    expect(validateDomain('my-agnes.example-corp.io', '--domain')).toBe('my-agnes.example-corp.io')
    expect(validateDomain('xn--bcher-kva.example', '--domain')).toBe('xn--bcher-kva.example')
    const label63 = 'a'.repeat(63)
    expect(validateDomain(`${label63}.com`, '--domain')).toBe(`${label63}.com`)
  })

  it.each([
    ['single label', 'localhost'],
    ['numeric TLD (an IP address)', '192.168.1.10'],
    ['numeric TLD', 'agnes.123'],
    ['64-character label', `${'a'.repeat(64)}.com`],
    ['leading hyphen', '-agnes.example.com'],
    ['trailing hyphen', 'agnes-.example.com'],
    ['underscore', 'my_agnes.example.com'],
    ['empty label', 'agnes..example.com'],
    ['scheme', 'https://agnes.example.com'],
    ['path', 'agnes.example.com/app'],
    ['port', 'agnes.example.com:443'],
    ['empty', ''],
    ['only a dot', '.'],
    ['too long', `${Array.from({length: 5}, () => 'a'.repeat(60)).join('.')}.com`],
  ])('rejects %s', (_label, value) => {
    const error = rejects(() => validateDomain(value, '--domain'), '--domain')
    expect(error.hint).toMatch(/agnes\.example\.com/)
  })
})

describe('validateMemory', () => {
  it('accepts Docker sizes from 64m up, normalised to lower case', () => {
    expect(validateMemory('64m', '--memory')).toBe('64m')
    expect(validateMemory('512m', '--memory')).toBe('512m')
    expect(validateMemory('1.5g', '--memory')).toBe('1.5g')
    expect(validateMemory('4G', '--memory')).toBe('4g')
    expect(validateMemory('65536k', '--memory')).toBe('65536k')
    expect(validateMemory(' 2g ', '--memory')).toBe('2g')
    expect(validateMemory('512mb', '--memory')).toBe('512mb')
  })

  it.each(['63m', '65535k', '0.06g', 'lots', '4', '1024', '4 g', '-1g', '4t', '', 'g', '1.g'])('rejects %j', (value) => {
    const error = rejects(() => validateMemory(value, '--memory'), '--memory')
    expect(error.hint).toMatch(/64m/)
  })
})

describe('validateCpus', () => {
  it('accepts positive numbers up to 1024', () => {
    expect(validateCpus('0.5', '--cpus')).toBe('0.5')
    expect(validateCpus('2.0', '--cpus')).toBe('2.0')
    expect(validateCpus(' 1 ', '--cpus')).toBe('1')
    expect(validateCpus('1024', '--cpus')).toBe('1024')
  })

  it.each(['0', '0.0', '-1', '1e2', 'two', '', '1025', '.5', '1.', '0x2'])('rejects %j', (value) => {
    rejects(() => validateCpus(value, '--cpus'), '--cpus')
  })
})

describe('validateHttpUrl', () => {
  it('accepts http(s) URLs and drops the trailing slash', () => {
    expect(validateHttpUrl('https://connection.keboola.com/', '--keboola-url')).toBe('https://connection.keboola.com')
    expect(validateHttpUrl('https://connection.eu-central-1.keboola.com', '--keboola-url')).toBe('https://connection.eu-central-1.keboola.com')
    expect(validateHttpUrl('http://10.0.0.5:8080/api/', '--keboola-url')).toBe('http://10.0.0.5:8080/api')
    expect(validateHttpUrl('HTTPS://Connection.Keboola.COM', '--keboola-url')).toBe('https://connection.keboola.com')
  })

  it('rejects credentials without echoing them', () => {
    const error = rejects(() => validateHttpUrl('https://user:hunter2secret@connection.keboola.com', '--keboola-url'), '--keboola-url')
    expect(error.message).not.toContain('hunter2secret')
    expect(error.message).toMatch(/credentials/)
    rejects(() => validateHttpUrl('https://token@connection.keboola.com', '--keboola-url'), '--keboola-url')
  })

  it.each(['ftp://connection.keboola.com', 'file:///etc/passwd', 'javascript:alert(1)', 'ssh://host'])('rejects the non-http scheme %j', (value) => {
    const error = rejects(() => validateHttpUrl(value, '--keboola-url'), '--keboola-url')
    expect(error.message).toMatch(/https:\/\//)
  })

  it.each(['connection.keboola.com', 'not a url', '', 'http://', '//connection.keboola.com'])('rejects %j as not a URL', (value) => {
    rejects(() => validateHttpUrl(value, '--keboola-url'), '--keboola-url')
  })
})

describe('validateChoice', () => {
  it('normalises case and spaces', () => {
    expect(validateChoice(' Stable ', ['stable', 'dev'] as const, '--channel')).toBe('stable')
    expect(validateChoice('ACME', ['none', 'acme'] as const, '--tls')).toBe('acme')
  })

  it('rejects anything else, listing the choices', () => {
    const error = rejects(() => validateChoice('beta', ['stable', 'dev'] as const, '--channel'), '--channel')
    expect(error.message).toContain('stable, dev')
    rejects(() => validateChoice('', ['stable', 'dev'] as const, '--channel'), '--channel')
    rejects(() => validateChoice('stable-2026.04.3', ['stable', 'dev'] as const, '--channel'), '--channel')
  })
})
