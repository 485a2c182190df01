import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { recordingLogger, sessionApp } from '../support/app'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'

describe('[nuxt-server-session] security rule 7: JSON-only data, bounded, corrupt records ignored', () => {
  let server: TestServer
  const storage = createStorage()
  const logger = recordingLogger()
  beforeAll(async () => {
    server = await serve(sessionApp({ storage, logger, maxSize: 1024 }).app)
  })
  afterAll(() => server.close())

  /** A live session, and a way to overwrite its stored record with anything. */
  async function liveSession() {
    const client = new Client(server.url)
    const { id } = await client.json('/inc')
    const key = `sess:${await storeKeyOf(id)}`
    const record = JSON.parse(String(await storage.getItemRaw(key)))
    return { client, id, key, record }
  }

  it('rule 7: __proto__ and constructor.prototype keys in stored data never reach a prototype', async () => {
    const { client, key, record } = await liveSession()
    const hostile = JSON.stringify({ ...record, data: { n: 5 } }).replace('"data":{', '"data":{"__proto__":{"isAdmin":true},"nested":{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}},"\\u005f_proto__":{"escaped":true},')
    await storage.setItemRaw(key, hostile)
    const body = await client.json('/read')
    expect(body.isNew).toBe(false)
    expect(body.data.n).toBe(5)
    expect(Object.keys(body.data)).not.toContain('__proto__')
    expect(body.data.nested).toEqual({})
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(({} as Record<string, unknown>).escaped).toBeUndefined()
  })

  it.each([
    ['not JSON', 'garbage'],
    ['a JSON array', '[]'],
    ['a JSON number', '123'],
    ['truncated JSON', '{"v":1,"createdAt":1,"touchedAt":1,"expi'],
    ['a record of the wrong shape', '{"createdAt":"yesterday","touchedAt":1,"expiresAt":1,"data":{}}'],
    ['data that is not an object', `{"createdAt":${Date.now()},"touchedAt":${Date.now()},"expiresAt":${Date.now() + 1e6},"data":[1]}`],
  ])('rule 7: a corrupt record (%s) means no session and a security warning, never a 500', async (_label, raw) => {
    const { client, id, key } = await liveSession()
    await storage.setItemRaw(key, raw)
    const lines = logger.lines.length
    const res = await client.fetch('/read')
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body.isNew).toBe(true)
    expect(body.id).not.toBe(id)
    expect(logger.lines.slice(lines).join('\n')).toMatch(/Security: (corrupt|malformed) session record/)
  })

  it('rule 7: saving data larger than maxSize fails with a clear error and writes nothing', async () => {
    const { client, key } = await liveSession()
    const before = await storage.getItemRaw(key)
    const body = await client.json('/big/2000')
    expect(body).toMatchObject({ saved: false, code: 'ERR_SESSION_DATA_INVALID' })
    expect(body.message).toMatch(/larger than the 1024 bytes allowed \(maxSize\)/)
    expect(await storage.getItemRaw(key)).toBe(before)
    expect((await client.json('/big/100')).saved).toBe(true)
  })

  it('rule 7: the automatic save of oversized or non-JSON data answers 500 and keeps the stored session', async () => {
    const { client, key } = await liveSession()
    const before = await storage.getItemRaw(key)
    for (const path of ['/big-auto/5000', '/bigint']) {
      const res = await client.fetch(path)
      expect(res.status).toBe(500)
      expect((await res.json()).statusCode).toBe(500)
    }
    expect(await storage.getItemRaw(key)).toBe(before)
    expect((await client.json('/read')).data).toEqual({ n: 1 })
  })
})
