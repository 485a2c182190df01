import { expect, it } from 'vitest'
import { Client, parseSetCookie } from './server'

/**
 * The HTTP checks every runtime must pass with the fixture `test/fixtures/nitro-basic` (built for
 * node-server, Bun, Deno or Cloudflare Workers): the visit counter with the production cookie
 * defaults, sign-in with regenerate, sign-out, tampered cookies, the save on 4xx and not on 5xx, and
 * the lazy route. Registers one `it` per check inside the caller's `describe`; `url()` is read when
 * a check runs, so the server may be started in `beforeAll`.
 */
export function itPassesTheRuntimeChecks(url: () => string): void {
  const client = () => new Client(url())

  it('counts visits across requests with production cookie defaults', async () => {
    const c = client()
    const res = await c.fetch('/api/visits')
    expect(await res.json()).toEqual({ visits: 1, isNew: true })
    const setCookie = res.headers.getSetCookie()
    expect(setCookie).toHaveLength(1)
    const cookie = parseSetCookie(setCookie[0]!)
    expect(cookie.name).toBe('__Host-sid')
    expect(cookie.attributes).toMatchObject({ httponly: true, secure: true, samesite: 'Lax', path: '/' })
    expect(cookie.attributes.domain).toBeUndefined()
    expect(res.headers.get('cache-control')).toBe('private, no-store')
    expect(await c.json('/api/visits')).toEqual({ visits: 2, isNew: false })
    expect(await c.json('/api/visits')).toEqual({ visits: 3, isNew: false })
    // Without the cookie: a new session.
    expect(await client().json('/api/visits')).toEqual({ visits: 1, isNew: true })
  })

  it('signs in with regenerate: a new id before the redirect leaves, the data kept, the old id dead', async () => {
    const c = client()
    await c.json('/api/visits')
    const before = c.jar.get('__Host-sid')
    const res = await c.fetch('/api/login?name=bob')
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe('/api/me')
    expect(c.jar.get('__Host-sid')).toBeDefined()
    expect(c.jar.get('__Host-sid')).not.toBe(before)
    expect(await c.json('/api/me')).toMatchObject({ user: 'bob', visits: 1 })
    const replay = client()
    replay.jar.set('__Host-sid', before!)
    expect(await replay.json('/api/me')).toMatchObject({ user: null, visits: 0 })
  })

  it('signs out: the session destroyed, the cookie expired, the old cookie dead', async () => {
    const c = client()
    await c.fetch('/api/login?name=carol')
    const old = c.jar.get('__Host-sid')!
    expect(await c.json('/api/me')).toMatchObject({ user: 'carol' })
    const res = await c.fetch('/api/logout')
    expect(res.status).toBe(302)
    const expired = parseSetCookie(res.headers.getSetCookie().find(h => h.startsWith('__Host-sid='))!)
    expect(expired.value).toBe('')
    expect(expired.attributes['max-age']).toBe('0')
    expect(expired.attributes).toMatchObject({ path: '/', secure: true })
    expect(c.jar.has('__Host-sid')).toBe(false)
    const replay = client()
    replay.jar.set('__Host-sid', old)
    expect(await replay.json('/api/me')).toMatchObject({ user: null })
  })

  it('gives a tampered, truncated, foreign or duplicated cookie a fresh session, never a 5xx', async () => {
    const owner = client()
    await owner.fetch('/api/login?name=dave')
    const good = owner.jar.get('__Host-sid')!
    const dot = good.lastIndexOf('.')
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1)
    const forged = [
      flip(good, 0), // the id changed
      flip(good, good.length - 1), // the signature changed
      good.slice(0, dot), // no signature
      good.slice(0, -4), // truncated
      `${good}x`,
      'not-a-session',
      '',
      '%E0%A4%A',
      good.replace(/[a-z]/gi, c => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())),
    ]
    for (const value of forged) {
      const c = client()
      const res = await c.fetch('/api/me', { headers: { cookie: `__Host-sid=${value}` } })
      expect(res.status, value).toBe(200)
      expect(await res.json(), value).toMatchObject({ user: null, visits: 0 })
    }
    // The real cookie twice, or beside a forged one: ambiguous, so a fresh session.
    for (const header of [`__Host-sid=${good}; __Host-sid=${good}`, `__Host-sid=${flip(good, 0)}; __Host-sid=${good}`]) {
      const res = await client().fetch('/api/me', { headers: { cookie: header } })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ user: null })
    }
    // The owner's session was not touched by any of it.
    expect(await owner.json('/api/me')).toMatchObject({ user: 'dave' })
  })

  it('saves on a thrown 4xx, not on a 5xx', async () => {
    const c = client()
    await c.json('/api/visits')
    expect((await c.fetch('/api/fail?status=400')).status).toBe(400)
    expect(await c.json('/api/me')).toMatchObject({ failedWith: 400, visits: 1 })
    expect((await c.fetch('/api/fail?status=500')).status).toBe(500)
    expect((await c.json('/api/me')).failedWith).toBe(400)
    // A 4xx on a first visit saves the session and sends its cookie with the error.
    const first = client()
    expect((await first.fetch('/api/fail?status=401')).status).toBe(401)
    expect(first.jar.has('__Host-sid')).toBe(true)
    expect(await first.json('/api/me')).toMatchObject({ failedWith: 401 })
    // A 5xx on a first visit stores nothing and sends no cookie.
    const failed = await client().fetch('/api/fail?status=500')
    expect(failed.status).toBe(500)
    expect(failed.headers.getSetCookie()).toEqual([])
  })

  it('sets no cookie on a route that never asks for the session, nor on a read of an empty one', async () => {
    const res = await client().fetch('/api/lazy')
    expect(await res.json()).toEqual({ ok: true })
    expect(res.headers.getSetCookie()).toEqual([])
    expect(res.headers.get('cache-control')).not.toBe('private, no-store')
    const read = await client().fetch('/api/me')
    expect(await read.json()).toMatchObject({ user: null, visits: 0 })
    expect(read.headers.getSetCookie()).toEqual([])
  })
}
