import { createApp, createRouter, defineEventHandler } from 'h3'
import { createStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'

describe('[nuxt-server-session] smoke', () => {
  let server: TestServer
  const store = new UnstorageSessionStore(createStorage())
  beforeAll(async () => {
    const router = createRouter()
    router.get('/count', defineEventHandler(async (event) => {
      const session = await useSession(event, { store, secret: 'x'.repeat(32) })
      session.update(d => ({ ...d, n: ((d as any).n ?? 0) + 1 }))
      return { n: (session.data as any).n }
    }))
    server = await serve(createApp().use(router))
  })
  afterAll(() => server.close())

  it('counts', async () => {
    const c = new Client(server.url)
    expect(await c.json('/count')).toEqual({ n: 1 })
    expect(await c.json('/count')).toEqual({ n: 2 })
    expect(await c.json('/count')).toEqual({ n: 3 })
  })
})
