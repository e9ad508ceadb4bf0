import {describe, expect, it} from 'vitest'

import {InvalidInputError} from '../../../src/lib/errors.js'
import {
  compareVersionTags,
  deprecatedTagFor,
  isChannel,
  isDeprecated,
  isShaTag,
  isVersionTag,
  parseVersionTag,
  sortVersionTags,
  validateVersionTag,
} from '../../../src/lib/image-registry/versions.js'

describe('parsing', () => {
  it('parses versioned tags of both channels', () => {
    expect(parseVersionTag('stable-2026.04.3')).toEqual({channel: 'stable', year: 2026, month: 4, n: 3})
    expect(parseVersionTag('dev-2026.12.531')).toEqual({channel: 'dev', year: 2026, month: 12, n: 531})
    expect(parseVersionTag('stable-2026.9.400')).toEqual({channel: 'stable', year: 2026, month: 9, n: 400})
  })

  it.each(['stable', 'dev', 'latest', 'stable-2026.4', 'stable-2026.04', 'stable-26.04.1', 'stable-2026.13.1', 'stable-2026.00.1', 'beta-2026.04.1', 'deprecated-2026.04.1', 'sha-abcdef1', 'stable-2026.04.3-rc', ' stable-2026.04.3', 'Stable-2026.04.3', 'stable-2026.04.x'])(
    'does not take %j for a version',
    (tag) => {
      expect(parseVersionTag(tag)).toBeUndefined()
      expect(isVersionTag(tag)).toBe(false)
    },
  )

  it('knows channels and commit tags', () => {
    expect(isChannel('stable')).toBe(true)
    expect(isChannel('dev')).toBe(true)
    expect(isChannel('latest')).toBe(false)
    expect(isShaTag('sha-abcdef1')).toBe(true)
    expect(isShaTag('sha-abcdef12')).toBe(false)
    expect(isShaTag('sha-ABCDEF1')).toBe(false)
  })

  it('validates with an error that names the expected form', () => {
    expect(validateVersionTag('dev-2026.05.7')).toEqual({channel: 'dev', year: 2026, month: 5, n: 7})
    for (const bad of ['latest', 'stable-2026.4', 'stable', '']) {
      const action = () => validateVersionTag(bad)
      expect(action).toThrow(InvalidInputError)
      expect(action).toThrow(/stable-2026\.04\.3/)
    }
    expect(() => validateVersionTag('stable')).toThrow(/is a channel, not a version/)
  })
})

describe('ordering', () => {
  it('compares numerically: year, then month, then N', () => {
    expect(compareVersionTags('stable-2026.05.531', 'stable-2026.05.99')).toBeGreaterThan(0)
    expect(compareVersionTags('stable-2026.05.99', 'stable-2026.05.531')).toBeLessThan(0)
    expect(compareVersionTags('stable-2026.10.1', 'stable-2026.9.400')).toBeGreaterThan(0)
    expect(compareVersionTags('stable-2026.10.1', 'stable-2026.09.400')).toBeGreaterThan(0)
    expect(compareVersionTags('stable-2027.01.1', 'stable-2026.12.999')).toBeGreaterThan(0)
    expect(compareVersionTags('dev-2026.05.8', 'stable-2026.05.7')).toBeGreaterThan(0)
    expect(compareVersionTags('stable-2026.05.7', 'stable-2026.05.7')).toBe(0)
    expect(() => compareVersionTags('latest', 'stable-2026.05.7')).toThrow(InvalidInputError)
  })

  it('sorts newest first, drops non-version tags and duplicates, filters by channel', () => {
    const tags = ['stable', 'dev', 'sha-abcdef1', 'deprecated-2026.05.100', 'stable-2026.05.99', 'dev-2026.05.600', 'stable-2026.05.531', 'stable-2025.12.1000', 'stable-2026.01.2', 'stable-2026.05.99', 'dev-branch-latest']
    expect(sortVersionTags(tags)).toEqual(['dev-2026.05.600', 'stable-2026.05.531', 'stable-2026.05.99', 'stable-2026.01.2', 'stable-2025.12.1000'])
    expect(sortVersionTags(tags, 'stable')).toEqual(['stable-2026.05.531', 'stable-2026.05.99', 'stable-2026.01.2', 'stable-2025.12.1000'])
    expect(sortVersionTags(tags, 'dev')).toEqual(['dev-2026.05.600'])
    expect(sortVersionTags([])).toEqual([])
  })
})

describe('deprecation', () => {
  it('derives the deprecated tag the publisher pushes', () => {
    expect(deprecatedTagFor('stable-2026.05.7')).toBe('deprecated-2026.05.7')
    expect(deprecatedTagFor('dev-2026.05.531')).toBe('deprecated-2026.05.531')
    expect(() => deprecatedTagFor('stable')).toThrow(InvalidInputError)
  })

  it('tells from the tag list whether a version was rolled back', () => {
    const tags = ['stable', 'stable-2026.05.7', 'stable-2026.05.8', 'deprecated-2026.05.8']
    expect(isDeprecated('stable-2026.05.8', tags)).toBe(true)
    expect(isDeprecated('stable-2026.05.7', tags)).toBe(false)
    expect(isDeprecated('stable', tags)).toBe(false)
    expect(isDeprecated('stable-2026.05.8', new Set(tags))).toBe(true)
  })
})
