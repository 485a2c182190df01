import { createStorage } from 'unstorage'
import { afterEach, describe, expect, it } from 'vitest'
import { sessionApp, testClock } from '../support/app'
import { Client, parseSetCookie, serve } from '../support/server'
import type { TestServer } from '../support/server'

describe('[nuxt-server-session] security rule 5: idle and absolute timeouts, enforced server-side', () => {
  let server: TestServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  async function start(options: { rolling?: boolean } = {}) {
    const clock = testClock()
    const storage = createStorage()
    server = await serve(sessionApp({ storage, ttl: 100, maxLifetime: 1000, now: () => clock.now, ...options }).app)
    return { clock, storage, client: new Client(server.url) }
  }

  it('rule 5: a session idle for longer than ttl ends, and its record is deleted, whatever the cookie says', async () => {
    const { clock, storage, client } = await start()
    const { id } = await client.json('/inc')
    clock.tick(99)
    expect(await client.json('/read')).toMatchObject({ id, data: { n: 1 } })
    clock.tick(101)
    const after = await client.json('/read')
    expect(after).toMatchObject({ isNew: true, data: {} })
    expect(after.id).not.toBe(id)
    expect(await storage.getKeys('sess')).toEqual([])
  })

  it('rule 5: the idle timeout is extended by a throttled touch: no write before touchInterval, one write after', async () => {
    const { clock, storage, client } = await start()
    await client.json('/inc')
    const [key] = await storage.getKeys('sess')
    const written = await storage.getItemRaw(key!)
    clock.tick(5)
    await client.json('/read')
    expect(await storage.getItemRaw(key!)).toBe(written)
    clock.tick(6)
    await client.json('/read')
    const touched = JSON.parse(String(await storage.getItemRaw(key!)))
    expect(touched.touchedAt).toBe(clock.now)
    expect(touched.data).toEqual({ n: 1 })
    clock.tick(95)
    expect(await client.json('/read')).toMatchObject({ isNew: false, data: { n: 1 } })
  })

  it('rule 5: activity never extends the absolute lifetime', async () => {
    const { clock, client } = await start()
    const { id, createdAt } = await client.json('/inc')
    for (let t = 50; t < 1000; t += 50) {
      clock.tick(50)
      expect(await client.json('/read')).toMatchObject({ id, isNew: false })
    }
    clock.tick(50)
    const after = await client.json('/read')
    expect(after.isNew).toBe(true)
    expect(clock.now).toBeGreaterThanOrEqual(createdAt + 1000 * 1000)
  })

  it('rule 5: expiresAt is the earlier of the idle and the absolute deadline', async () => {
    const { clock, client } = await start()
    const first = await client.json('/inc')
    expect(first.expiresAt).toBe(first.createdAt + 100_000)
    for (let i = 0; i < 19; i++) {
      clock.tick(50)
      await client.json('/read')
    }
    const late = await client.json('/read')
    expect(late.expiresAt).toBe(first.createdAt + 1000 * 1000)
  })

  it('rule 5: rolling re-sends the cookie on each touch with a Max-Age that follows the idle timeout, never past the absolute one', async () => {
    const { clock, client } = await start({ rolling: true })
    const first = await client.fetch('/inc')
    const maxAge = (res: Response) => Number(res.headers.getSetCookie().map(parseSetCookie)[0]?.attributes['max-age'])
    expect(maxAge(first)).toBe(100)
    clock.tick(5)
    expect((await client.fetch('/read')).headers.getSetCookie()).toEqual([])
    clock.tick(6)
    expect(maxAge(await client.fetch('/read'))).toBe(100)
    for (let i = 0; i < 18; i++) {
      clock.tick(50)
      await client.fetch('/read')
    }
    clock.tick(40)
    const nearEnd = await client.fetch('/read')
    expect(maxAge(nearEnd)).toBeLessThanOrEqual(1000 - 11 - 18 * 50 - 40)
  })
})
