import { createStorage } from 'unstorage'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SessionConfigError, UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import type { SessionOptions } from 'nuxt-server-session/h3'
import { recordingLogger, sessionApp } from '../support/app'
import { offlineEvent } from '../support/event'
import { Client, parseSetCookie, serve } from '../support/server'

const LONG = (c: string) => c.repeat(40)
const store = new UnstorageSessionStore(createStorage())

async function configError(options: Partial<SessionOptions>): Promise<unknown> {
  try {
    await useSession(offlineEvent(), { store, secret: LONG('s'), ...options } as SessionOptions)
    return undefined
  }
  catch (error) {
    return error
  }
}

describe('[nuxt-server-session] security rule 3: secrets', () => {
  afterEach(() => {
    vi.unstubAllEnvs()
  })

  it('rule 3: a missing or empty secret is a config error naming the option', async () => {
    for (const secret of [undefined, '', [], ['ok-but-then', '']]) {
      const error = await configError({ secret: secret as never })
      expect(error).toBeInstanceOf(SessionConfigError)
      expect((error as Error).message).toMatch(/`secret`/)
    }
  })

  it('rule 3: in production a secret shorter than 32 characters stops the app; in development it warns once', async () => {
    vi.stubEnv('NODE_ENV', 'production')
    const error = await configError({ secret: 'x'.repeat(31) })
    expect(error).toBeInstanceOf(SessionConfigError)
    expect((error as Error).message).toMatch(/32 characters/)
    expect((error as Error).message).not.toContain('x'.repeat(31))
    expect(await configError({ secret: [LONG('a'), 'short'] })).toBeInstanceOf(SessionConfigError)
    vi.stubEnv('NODE_ENV', 'development')
    const logger = recordingLogger()
    const short = `short-${Math.random().toString(36).slice(2, 10)}`
    expect(await configError({ secret: short, logger })).toBeUndefined()
    expect(await configError({ secret: short, logger })).toBeUndefined()
    expect(logger.lines.filter(l => l.includes('shorter than 32'))).toHaveLength(1)
    expect(logger.lines.join('\n')).not.toContain(short)
  })

  it('rule 3: rotation: the last secret signs, older ones verify and their cookies are re-signed; a dropped secret no longer verifies', async () => {
    const storage = createStorage()
    const [oldSecret, newSecret] = [LONG('o'), LONG('n')]
    const oldApp = await serve(sessionApp({ storage, secret: oldSecret }).app)
    const rotating = await serve(sessionApp({ storage, secret: [oldSecret, newSecret] }).app)
    const newOnly = await serve(sessionApp({ storage, secret: [newSecret] }).app)
    try {
      const browser = new Client(oldApp.url)
      const { id } = await browser.json('/inc')
      const [name, oldCookie] = [...browser.jar][0]!

      const res = await fetch(`${rotating.url}/read`, { headers: { cookie: `${name}=${oldCookie}` } })
      const body = await res.json()
      expect(body).toMatchObject({ id, isNew: false, data: { n: 1 } })
      const resigned = res.headers.getSetCookie().map(parseSetCookie).find(c => c.name === name)!
      expect(resigned.value).not.toBe(oldCookie)
      expect(resigned.value.split('.')[0]).toBe(id)

      const withNew = await (await fetch(`${newOnly.url}/read`, { headers: { cookie: `${name}=${resigned.value}` } })).json()
      expect(withNew).toMatchObject({ id, isNew: false, data: { n: 1 } })
      const withOld = await (await fetch(`${newOnly.url}/read`, { headers: { cookie: `${name}=${oldCookie}` } })).json()
      expect(withOld.isNew).toBe(true)
      expect(withOld.id).not.toBe(id)

      const current = await fetch(`${rotating.url}/read`, { headers: { cookie: `${name}=${resigned.value}` } })
      expect(current.headers.getSetCookie()).toEqual([])
    }
    finally {
      await Promise.all([oldApp.close(), rotating.close(), newOnly.close()])
    }
  })
})

describe('[nuxt-server-session] security rule 4: cookie attributes', () => {
  afterEach(() => {
    vi.unstubAllEnvs()
  })

  async function firstCookie(options: Partial<SessionOptions> = {}) {
    const server = await serve(sessionApp(options).app)
    try {
      const res = await new Client(server.url).fetch('/inc')
      const [header] = res.headers.getSetCookie()
      return { cookie: parseSetCookie(header!), headers: res.headers }
    }
    finally {
      await server.close()
    }
  }

  it('rule 4: development defaults are explicit: HttpOnly, SameSite=Lax, Path=/, a Max-Age, no Secure', async () => {
    const { cookie } = await firstCookie()
    expect(cookie.name).toBe('sid')
    expect(cookie.attributes).toMatchObject({ httponly: true, samesite: 'Lax', path: '/' })
    expect(cookie.attributes.secure).toBeUndefined()
    const maxAge = Number(cookie.attributes['max-age'])
    expect(maxAge).toBeLessThanOrEqual(7 * 24 * 3600)
    expect(maxAge).toBeGreaterThan(7 * 24 * 3600 - 5)
  })

  it('rule 4: production defaults add Secure and the __Host- prefix, with no Domain', async () => {
    vi.stubEnv('NODE_ENV', 'production')
    const { cookie } = await firstCookie()
    expect(cookie.name).toBe('__Host-sid')
    expect(cookie.attributes).toMatchObject({ httponly: true, secure: true, samesite: 'Lax', path: '/' })
    expect(cookie.attributes.domain).toBeUndefined()
  })

  it('rule 4: the cookie never outlives the absolute lifetime', async () => {
    const { cookie } = await firstCookie({ maxLifetime: 3600, cookie: { maxAge: 365 * 24 * 3600 } })
    expect(Number(cookie.attributes['max-age'])).toBeLessThanOrEqual(3600)
    expect(Number(cookie.attributes['max-age'])).toBeGreaterThan(3595)
  })

  it('rule 4: responses that set the cookie carry Cache-Control: private, no-store and Vary: Cookie', async () => {
    const { headers } = await firstCookie()
    expect(headers.get('cache-control')).toBe('private, no-store')
    expect(headers.get('vary')?.toLowerCase()).toContain('cookie')
  })

  it.each([
    ['SameSite=None without Secure', { cookie: { sameSite: 'none', secure: false } }, /sameSite: 'none'/],
    ['__Host- with a Domain', { name: '__Host-x', cookie: { secure: true, domain: 'example.com' } }, /__Host-/],
    ['__Host- with a Path other than /', { name: '__Host-x', cookie: { secure: true, path: '/app' } }, /__Host-/],
    ['__Host- without Secure', { name: '__Host-x', cookie: { secure: false } }, /__Host-/],
    ['__Secure- without Secure', { name: '__Secure-x', cookie: { secure: false } }, /__Secure-/],
    ['Partitioned without Secure', { cookie: { partitioned: true, secure: false } }, /partitioned/],
    ['an invalid cookie name', { name: 'a b;c' }, /valid cookie name/],
    ['an unknown SameSite', { cookie: { sameSite: 'loose' } }, /sameSite/],
    ['a zero ttl', { ttl: 0 }, /ttl/],
    ['a touch interval longer than the ttl', { ttl: 60, touchInterval: 120 }, /touchInterval/],
    ['a store that is not a store', { store: {} }, /store/],
  ])('rule 4: %s is a config error', async (_label, options, message) => {
    const error = await configError(options as Partial<SessionOptions>)
    expect(error).toBeInstanceOf(SessionConfigError)
    expect((error as Error).message).toMatch(message)
  })
})
