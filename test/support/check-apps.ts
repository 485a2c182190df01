import { createApp, createError, createRouter, defineEventHandler, getQuery, sendRedirect } from 'h3'
import type { App } from 'h3'
import { H3, HTTPError, getQuery as getQueryV2, redirect, serve as serveV2 } from 'h3-v2'
import type { H3Event as H3EventV2 } from 'h3-v2'
import { sessionAutoSave, useSession } from 'nuxt-server-session/h3'
import type { ServerSession, SessionEvent, SessionOptions } from 'nuxt-server-session/h3'
import { serve } from './server'
import type { TestServer } from './server'

/**
 * The routes of the runtime checks (./runtime-checks) as plain h3 apps, written as the seed does
 * (a middleware mounts the session with `useSession(event, options)`, the routes read
 * `event.context.sessionHandler`): one on h3 1 (`h3`, 1.15) and one on h3 2 (`h3-v2`, 2.0.8, with
 * the one line of automatic saving, `app.use(sessionAutoSave())`).
 */
interface Data { visits?: number, user?: string, failedWith?: number }
type Session = ServerSession<Data>
type Routes = Record<string, (session: Session, query: Record<string, unknown>) => unknown>

const session = (event: SessionEvent) => (event.context as { sessionHandler: Session }).sessionHandler

/** What each route does; `redirect` and `fail` are answered by each generation's own helpers. */
const ROUTES = {
  visits: (s: Session) => {
    s.update(data => ({ ...data, visits: (data.visits ?? 0) + 1 }))
    return { visits: s.data.visits, isNew: s.isNew }
  },
  me: (s: Session) => ({ user: s.data.user ?? null, visits: s.data.visits ?? 0, failedWith: s.data.failedWith ?? null }),
  login: async (s: Session, query: Record<string, unknown>) => {
    await s.regenerate()
    s.update({ user: String(query.name ?? 'alice') })
  },
  logout: (s: Session) => s.destroy(),
  fail: (s: Session, query: Record<string, unknown>) => {
    const status = Number(query.status ?? 400)
    s.update({ failedWith: status })
    return status
  },
} satisfies Routes

/** h3 1.15: `createApp`, `createRouter`, Node's http server. */
export function checkAppV1(options: SessionOptions): App {
  const app = createApp()
  const router = createRouter()
    .get('/api/lazy', defineEventHandler(() => ({ ok: true })))
    .get('/api/visits', defineEventHandler(event => ROUTES.visits(session(event))))
    .get('/api/me', defineEventHandler(event => ROUTES.me(session(event))))
    .get('/api/login', defineEventHandler(async (event) => {
      await ROUTES.login(session(event), getQuery(event))
      return sendRedirect(event, '/api/me')
    }))
    .get('/api/logout', defineEventHandler(async (event) => {
      await ROUTES.logout(session(event))
      return sendRedirect(event, '/api/me')
    }))
    .get('/api/fail', defineEventHandler((event) => {
      throw createError({ statusCode: ROUTES.fail(session(event), getQuery(event)) })
    }))
  app.use(defineEventHandler(async (event) => {
    if (event.path !== '/api/lazy') await useSession(event, options)
  }))
  app.use(router)
  return app
}

/** h3 2.0.8: `new H3()`, the automatic save in one line, the web `Request`. */
export function checkAppV2(options: SessionOptions): H3 {
  const app = new H3()
  app.use(sessionAutoSave())
  app.use(async (event: H3EventV2) => {
    if (event.url.pathname !== '/api/lazy') await useSession(event, options)
  })
  app.get('/api/lazy', () => ({ ok: true }))
  app.get('/api/visits', event => ROUTES.visits(session(event)))
  app.get('/api/me', event => ROUTES.me(session(event)))
  app.get('/api/login', async (event) => {
    await ROUTES.login(session(event), getQueryV2(event))
    return redirect('/api/me')
  })
  app.get('/api/logout', async (event) => {
    await ROUTES.logout(session(event))
    return redirect('/api/me')
  })
  app.get('/api/fail', (event) => {
    throw new HTTPError({ status: ROUTES.fail(session(event), getQueryV2(event)) })
  })
  return app
}

/** An h3 2 app under h3's own `serve()` (srvx) on a free loopback port. */
export async function serveV2App(app: H3): Promise<TestServer> {
  const server = serveV2(app, { port: 0, hostname: '127.0.0.1', silent: true, gracefulShutdown: false })
  await server.ready()
  const url = new URL(server.url!)
  return { url: `http://127.0.0.1:${url.port}`, close: () => server.close(true) }
}

export { serve }
