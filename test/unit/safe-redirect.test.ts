/**
 * safeRedirect, the guard against open redirects of the pages' `redirect` query (and the servers'
 * own): every hostile value that a browser would follow off the site is refused, and every path
 * of the site is kept whole (query and hash included). Each refused value is also checked the way
 * a browser resolves it, so that the list proves what it says.
 */
import { describe, expect, it } from 'vitest'
import { safeRedirect } from 'nuxt-server-session/h3'

const SITE = 'https://app.example'

const HOSTILE = [
  '//evil.example',
  '//evil.example/path',
  'https://evil.example',
  'http://evil.example/login',
  'HTTPS://evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '\\/evil.example',
  '/\\/evil.example',
  '%2F%2Fevil.example',
  '%2f%2fevil.example',
  '/%2F/evil.example',
  '/%5Cevil.example',
  '/%5cevil.example',
  '%252F%252Fevil.example',
  '/%252F/evil.example',
  '/%09/evil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  '/..//evil.example',
  '/./../..//evil.example',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'evil.example',
  '',
  ' //evil.example',
  '/%E0%A4%A',
]

describe('[nuxt-server-session] safeRedirect (no open redirect)', () => {
  it.each(HOSTILE)('refuses %j', (value) => {
    expect(safeRedirect(value)).toBeUndefined()
  })

  it('refuses values that are not strings, and overlong ones', () => {
    for (const value of [undefined, null, 42, ['/a'], { path: '/a' }, `/${'a'.repeat(3000)}`]) expect(safeRedirect(value)).toBeUndefined()
  })

  it.each([
    ['/account', '/account'],
    ['/account?tab=devices#top', '/account?tab=devices#top'],
    ['/a/b/../c', '/a/c'],
    ['/search?q=%2F%2Fevil.example', '/search?q=%2F%2Fevil.example'],
    ['/%C3%A9t%C3%A9', '/%C3%A9t%C3%A9'],
    ['/', '/'],
  ])('keeps a path of this site: %j → %j', (value, expected) => {
    expect(safeRedirect(value)).toBe(expected)
  })

  it('whatever it accepts, a browser resolves on this site', () => {
    for (const value of [...HOSTILE, '/account', '/a/b/../c', '/%C3%A9t%C3%A9']) {
      const kept = safeRedirect(value)
      if (kept !== undefined) expect(new URL(kept, SITE).origin).toBe(SITE)
    }
    // The refused ones do leave the site, or are not URLs at all, when taken as they are.
    const leaving = HOSTILE.filter((value) => {
      try {
        return new URL(value, SITE).origin !== SITE
      }
      catch {
        return true
      }
    })
    expect(leaving).toEqual(expect.arrayContaining(['//evil.example', 'https://evil.example', '/\\evil.example', '\\\\evil.example']))
  })
})
