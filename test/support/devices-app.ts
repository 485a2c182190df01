import { createApp, createRouter, defineEventHandler, getQuery, getRouterParam } from 'h3'
import type { App, Router } from 'h3'
import { listSessions, revokeSession, revokeSessions, signInSession, useSession } from 'nuxt-server-session/h3'
import type { SessionOptions } from 'nuxt-server-session/h3'
import { Client, serve } from './server'
import type { TestServer } from './server'

/**
 * "Your devices" at the h3 level: one route per operation, over `options`. Shared by the
 * devices tests on Redis, on memory and on the SQLite database (in the test process and in the
 * child servers of the cross-process tests).
 */
export function devicesRouter(options: SessionOptions): Router {
  return createRouter()
    .get('/sign-in/:user', defineEventHandler(async (event) => {
      await useSession(event, options)
      const s = await signInSession(event, getRouterParam(event, 'user')!)
      return { id: s.id }
    }))
    .get('/list', defineEventHandler(async (event) => {
      await useSession(event, options)
      return listSessions(event)
    }))
    .get('/list-of/:user', defineEventHandler(async (event) => {
      await useSession(event, options)
      return listSessions(event, getRouterParam(event, 'user')!)
    }))
    .get('/me', defineEventHandler(async (event) => {
      const s = await useSession(event, options)
      return { isNew: s.isNew, id: s.id, data: s.data, userId: s.userId ?? null }
    }))
    .get('/set/:key/:value', defineEventHandler(async (event) => {
      const s = await useSession(event, options)
      s.update({ [getRouterParam(event, 'key')!]: getRouterParam(event, 'value')! } as any)
      return { id: s.id }
    }))
    .get('/regenerate', defineEventHandler(async (event) => {
      const s = await useSession(event, options)
      const before = s.id
      await s.regenerate()
      return { before, after: s.id }
    }))
    .get('/destroy', defineEventHandler(async (event) => {
      await (await useSession(event, options)).destroy()
      return { ok: true }
    }))
    .get('/revoke/:handle', defineEventHandler(async (event) => {
      await useSession(event, options)
      await revokeSession(event, getRouterParam(event, 'handle')!)
      return { ok: true }
    }))
    .get('/revoke-all', defineEventHandler(async (event) => {
      await useSession(event, options)
      await revokeSessions(event, { keepCurrent: getQuery(event).keep === '1' })
      return { ok: true }
    }))
    .get('/revoke-user/:user', defineEventHandler(async (event) => {
      await useSession(event, options)
      await revokeSessions(event, { userId: getRouterParam(event, 'user')! })
      return { ok: true }
    }))
}

/** An h3 app with the devices routes over `options`. */
export function devicesApp(options: SessionOptions): App {
  return createApp().use(devicesRouter(options))
}

/** The devices app on a free loopback port. */
export function devicesServer(options: SessionOptions): Promise<TestServer> {
  return serve(devicesApp(options))
}

/** One device: its own cookie jar and user agent. */
export function deviceOn(server: { url: string }, ua: string) {
  const c = new Client(server.url)
  const headers = { 'user-agent': ua }
  return {
    c,
    ua,
    fetch: (path: string) => c.fetch(path, { headers }),
    get: (path: string) => c.json(path, { headers }),
  }
}
export type Device = ReturnType<typeof deviceOn>
