import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore } from 'nuxt-server-session/h3'
import { fromBase64url, generateId, signCookieValue, storeKeyOf } from '../../src/runtime/server/core/crypto'
import { SECRET, countingStore, sessionApp } from '../support/app'
import { Client, parseSetCookie, serve } from '../support/server'
import type { TestServer } from '../support/server'

describe('[nuxt-server-session] security rule 1: session ids', () => {
  it('rule 1: ids carry 256 bits from the CSPRNG, base64url, unique over 100,000 draws, never UUIDs', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 100_000; i++) {
      const id = generateId()
      expect(id).toMatch(/^[\w-]{43}$/)
      seen.add(id)
    }
    expect(seen.size).toBe(100_000)
    const bytes = fromBase64url(generateId())!
    expect(bytes.length).toBeGreaterThanOrEqual(16)
    expect(generateId()).not.toMatch(/^[\da-f]{8}-[\da-f]{4}-/)
  })

  it('rule 1: the store key is the SHA-256 of the id, and the raw id appears nowhere in the store', async () => {
    const storage = createStorage()
    const { app } = sessionApp({ storage })
    const server = await serve(app)
    try {
      const c = new Client(server.url)
      const { id } = await c.json('/inc')
      const keys = await storage.getKeys()
      expect(keys).toEqual([`sess:${await storeKeyOf(id)}`])
      expect(keys[0]).not.toContain(id)
      expect(String(await storage.getItemRaw(keys[0]!))).not.toContain(id)
    }
    finally {
      await server.close()
    }
  })
  it('rule 1: signatures and store keys are exactly Web Crypto\'s HMAC-SHA-256 and SHA-256, on whichever implementation runs', async () => {
    // The core computes them with Node's crypto where the runtime offers it, else with Web
    // Crypto (Workers): a cookie or a store key made on one must work on the other.
    const subtle = globalThis.crypto.subtle
    const encoder = new TextEncoder()
    const hex = (bytes: ArrayBuffer) => [...new Uint8Array(bytes)].map(b => b.toString(16).padStart(2, '0')).join('')
    for (const secret of [SECRET, 'ünïcödé-secret-0123456789-0123456789-0123456789']) {
      const id = generateId()
      const key = await subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
      const expected = new Uint8Array(await subtle.sign('HMAC', key, encoder.encode(`nuxt-server-session/v1\u0000__Host-sid\u0000${id}`)))
      const value = await signCookieValue(secret, '__Host-sid', id)
      expect(fromBase64url(value.slice(44))).toEqual(expected)
      expect(await storeKeyOf(id)).toBe(hex(await subtle.digest('SHA-256', encoder.encode(id))))
    }
  })
})

describe('[nuxt-server-session] security rule 2: cookie holds only a signed id, strict mode', () => {
  let server: TestServer
  const counted = countingStore(new UnstorageSessionStore(createStorage()))
  beforeAll(async () => {
    server = await serve(sessionApp({ store: counted.store }).app)
  })
  afterAll(() => server.close())

  async function validCookie() {
    const c = new Client(server.url)
    const body = await c.json('/inc')
    const [name, value] = [...c.jar][0]!
    return { name: name!, value: value!, id: body.id as string }
  }

  it('rule 2: the cookie value is exactly <id>.<signature> and carries no data', async () => {
    const { value, id } = await validCookie()
    expect(value).toMatch(/^[\w-]{43}\.[\w-]{43}$/)
    expect(value.split('.')[0]).toBe(id)
  })

  it.each([
    ['one flipped signature character', (v: string) => v.slice(0, -1) + (v.endsWith('A') ? 'B' : 'A')],
    ['a truncated signature', (v: string) => v.slice(0, -2)],
    ['trailing garbage', (v: string) => `${v}x`],
    ['an empty signature', (v: string) => `${v.split('.')[0]}.`],
    ['no signature (raw id)', (v: string) => v.split('.')[0]!],
    ['a signature that is not base64url', (v: string) => `${v.split('.')[0]}.${'!'.repeat(43)}`],
    ['a non-canonical last base64url character', (v: string) => v.slice(0, -1) + 'B'],
    ['a percent-encoded value', (v: string) => encodeURIComponent(v).replace(/\./g, '%2E')],
    ['an express-style s: prefix', (v: string) => `s:${v}`],
    ['path characters in the id', (v: string) => `../../${v.slice(6)}`],
    ['a huge value', (v: string) => v.repeat(40)],
    ['non-ASCII bytes', (v: string) => `${v.slice(0, 42)}\u00E9.${v.split('.')[1]}`],
  ])('rule 2: %s means a fresh session and no store access, never a 500', async (_label, tamper) => {
    const { name, value, id } = await validCookie()
    const tampered = tamper(value)
    expect(tampered).not.toBe(value)
    const reads = counted.calls.get
    const res = await fetch(`${server.url}/read`, { headers: { cookie: `${name}=${tampered}` } })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.isNew).toBe(true)
    expect(body.id).not.toBe(id)
    expect(body.data).toEqual({})
    expect(counted.calls.get).toBe(reads)
  })

  it('rule 2: a well-formed, validly signed but unknown id is not adopted and creates no record under it', async () => {
    const { name } = await validCookie()
    const unknownId = generateId()
    const forged = await signCookieValue(SECRET, name, unknownId)
    const c = new Client(server.url)
    c.jar.set(name, forged)
    const body = await c.json('/inc')
    expect(body.id).not.toBe(unknownId)
    expect(await counted.store.get(await storeKeyOf(unknownId))).toBeUndefined()
    expect(c.jar.get(name)).not.toBe(forged)
  })

  it('rule 2: the signature is bound to the cookie name: a value signed for another cookie is refused', async () => {
    const { name, id } = await validCookie()
    const signedForOther = await signCookieValue(SECRET, 'other-cookie', id)
    const body = await (await fetch(`${server.url}/read`, { headers: { cookie: `${name}=${signedForOther}` } })).json()
    expect(body.isNew).toBe(true)
    expect(body.id).not.toBe(id)
  })

  it('rule 2: duplicated session cookies mean a fresh session, in either order', async () => {
    const a = await validCookie()
    const b = await validCookie()
    for (const header of [`${a.name}=${a.value}; ${b.name}=${b.value}`, `${b.name}=${b.value}; ${a.name}=${a.value}`, `${a.name}=${a.value}; ${a.name}=${a.value}`]) {
      const body = await (await fetch(`${server.url}/read`, { headers: { cookie: header } })).json()
      expect(body.isNew).toBe(true)
      expect([a.id, b.id]).not.toContain(body.id)
    }
  })

  it('rule 2: the id is read from the cookie only, never from the query string or headers', async () => {
    const { name, value, id } = await validCookie()
    const attempts: [string, RequestInit][] = [
      [`/read?${name}=${encodeURIComponent(value)}&sid=${encodeURIComponent(value)}&sessionId=${id}`, {}],
      ['/read', { headers: { [`x-${name}-session`]: value, 'x-session-id': id, 'authorization': `Bearer ${value}` } }],
    ]
    for (const [path, init] of attempts) {
      const body = await (await fetch(server.url + path, init)).json()
      expect(body.isNew).toBe(true)
      expect(body.id).not.toBe(id)
    }
  })

  it('rule 2: a bad cookie is cleared from the browser when no session replaces it', async () => {
    const { name, value } = await validCookie()
    const res = await fetch(`${server.url}/read`, { headers: { cookie: `${name}=${value}x` } })
    const cleared = res.headers.getSetCookie().map(parseSetCookie).find(sc => sc.name === name)
    expect(cleared?.attributes['max-age']).toBe('0')
  })
})
