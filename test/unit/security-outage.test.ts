import { createStorage } from 'unstorage'
import redisDriver from 'unstorage/drivers/redis'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SECRET, recordingLogger, sessionApp } from '../support/app'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'
import { redisAddress } from '../support/services'
import { tcpProxy } from '../support/tcp-proxy'

const BASE = `nss-test-outage-${process.pid}-${Date.now()}`

async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('[nuxt-server-session] security rules 8 and 9: store outage and logs, on a real Redis behind a proxy we cut', () => {
  let server: TestServer
  let proxy: Awaited<ReturnType<typeof tcpProxy>>
  const logger = recordingLogger()
  const storage = createStorage()
  beforeAll(async () => {
    proxy = await tcpProxy({ host: redisAddress().host, port: redisAddress().port })
    storage.mount('', redisDriver({ host: '127.0.0.1', port: proxy.port, base: BASE }))
    server = await serve(sessionApp({ storage, logger, storeTimeout: 300 }).app)
  })
  afterAll(async () => {
    await server.close()
    await storage.dispose()
    await proxy.close()
    const redis = new Redis(redisAddress().url)
    const keys = await redis.keys(`${BASE}:*`)
    if (keys.length) await redis.del(...keys)
    await redis.quit()
  })

  it('rule 8: while the store is down, session routes answer 503 and others 200; afterwards the session is intact, not replaced by an empty one', async () => {
    const client = new Client(server.url)
    const { id } = await client.json('/inc')
    expect((await client.json('/inc')).data).toEqual({ n: 2 })

    proxy.cut()
    for (const path of ['/inc', '/read', '/save']) {
      const res = await client.fetch(path)
      expect(res.status).toBe(503)
      const body = await res.json()
      expect(body).toMatchObject({ statusCode: 503, statusMessage: 'Session store unavailable' })
      expect(JSON.stringify(body)).not.toContain(id)
    }
    expect((await client.fetch('/never')).status).toBe(200)
    const optional = await client.fetch('/optional')
    expect(await optional.json()).toEqual({ anonymous: true })
    expect(optional.headers.getSetCookie()).toEqual([])
    expect(client.jar.size).toBe(1)

    proxy.restore()
    await until(async () => (await client.fetch('/read')).status === 200)
    expect(await client.json('/read')).toMatchObject({ id, isNew: false, data: { n: 2 } })
    expect((await client.json('/inc')).data).toEqual({ n: 3 })
  })

  it('rule 8: the failure is logged server-side with its cause and the SessionStoreError code', () => {
    expect(logger.lines.some(l => /Session store failed \(ERR_SESSION_STORE_UNAVAILABLE\)/.test(l))).toBe(true)
  })

  it('rule 9: nothing logged contains a secret, a raw session id, a cookie value or session data', async () => {
    const client = new Client(server.url)
    const first = await client.fetch('/set/secretValue/hunter2-data')
    expect(first.status).toBe(200)
    const { id } = await first.json()
    const cookie = [...client.jar.values()][0]!
    proxy.cut()
    await client.fetch('/set/other/more-private-data')
    proxy.restore()
    await until(async () => (await client.fetch('/read')).status === 200)
    const all = logger.lines.join('\n')
    expect(logger.lines.length).toBeGreaterThan(0)
    for (const secret of [SECRET, id, cookie, cookie.split('.')[1]!, 'hunter2-data', 'more-private-data']) {
      expect(all).not.toContain(secret)
    }
  })
})
