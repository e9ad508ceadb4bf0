import {afterEach, describe, expect, it} from 'vitest'

import {clearSecrets, redact, registerSecret} from '../../../src/lib/secrets/redact.js'

afterEach(() => clearSecrets())

describe('redact', () => {
  it('masks every occurrence of a registered secret, wherever it is', () => {
    const secret = 'kbc-123-SECRETtoken'
    registerSecret(secret)
    const text = `token=${secret}\nagain:${secret}${secret} and "${secret}" at the end ${secret}`
    const out = redact(text)
    expect(out).not.toContain(secret)
    expect(out).toBe('token=***\nagain:****** and "***" at the end ***')
  })

  it('leaves text alone when no secret occurs, and before registration', () => {
    expect(redact('token=abcdef123')).toBe('token=abcdef123')
    registerSecret('abcdef123')
    expect(redact('token=abcdef123')).toBe('token=***')
    clearSecrets()
    expect(redact('token=abcdef123')).toBe('token=abcdef123')
  })

  it('does not register values shorter than 6 characters, nor empty ones', () => {
    registerSecret('12345')
    registerSecret('')
    registerSecret(undefined)
    registerSecret(null)
    expect(redact('port 12345 and an empty string')).toBe('port 12345 and an empty string')
    registerSecret('123456')
    expect(redact('pin 123456')).toBe('pin ***')
  })

  it('treats secrets with regex metacharacters literally', () => {
    const secret = 'p@$$.w*rd(1)[x]+?'
    registerSecret(secret)
    expect(redact(`pw=${secret};`)).toBe('pw=***;')
    expect(redact('pw=p@$$Xw*rd(1)[x]+?')).toBe('pw=p@$$Xw*rd(1)[x]+?')
  })

  it('masks several secrets in one text', () => {
    registerSecret('first-secret-value')
    registerSecret('second-secret-value')
    expect(redact('a=first-secret-value b=second-secret-value')).toBe('a=*** b=***')
  })

  it('masks all of a longer secret even when a shorter secret registered first is part of it', () => {
    registerSecret('hunter2')
    registerSecret('hunter2-and-more-secret')
    const out = redact('password=hunter2-and-more-secret')
    expect(out).not.toContain('and-more-secret')
    expect(out).toBe('password=***')
  })

  it('masks Bearer tokens of any value, registered or not', () => {
    expect(redact('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig-_~+/=')).toBe('Authorization: Bearer ***')
    expect(redact('curl -H "Authorization: Bearer 0123456789abcdef" http://x')).toBe('curl -H "Authorization: Bearer ***" http://x')
    expect(redact('Bearer  tokentokentoken')).toBe('Bearer  ***')
    // Not a token: too short to be one.
    expect(redact('Bearer abc')).toBe('Bearer abc')
  })
})
