// Plain h3 1 (`h3` 1.15) on Node's http server (`toNodeListener`), with nuxt-server-session/h3
// imported by its name, as a user imports it: from bench/node_modules/nuxt-server-session, the
// package as installed (its package.json and a dist/ built by nuxt-module-build), which the
// benchmark rebuilds when src/ changed. Needs no build of its own.
//
// BENCH_H3_STORE picks the app: unset = the bare app (the baseline: the same routes and JSON,
// no session, nothing of the library loaded); `memory` = UnstorageSessionStore on unstorage's
// memory driver (`createStorage()`); `sqlite` = UnstorageSessionStore on the library's SQLite
// driver (what the modules mount by default), under ./.data/session in the server's cwd.
// The session routes call `useSession(event, options)` themselves (h3 1 saves automatically
// with nothing more); /api/lazy never does. PORT, HOST and BENCH_SESSION_SECRET come from the
// benchmark at start.
import { createServer } from 'node:http'
import { createApp, createRouter, defineEventHandler, toNodeListener } from 'h3'

const store = process.env.BENCH_H3_STORE
const app = createApp()
const router = createRouter()

if (!store) {
  router.get('/api/lazy', defineEventHandler(() => ({ ok: true })))
  router.get('/api/read', defineEventHandler(() => ({ visits: 0 })))
  let visits = 0
  router.get('/api/write', defineEventHandler(() => ({ visits: ++visits })))
}
else {
  const { createStorage } = await import('unstorage')
  const { sessionSqliteDriver, UnstorageSessionStore, useSession } = await import('nuxt-server-session/h3')
  let storage
  if (store === 'memory') {
    storage = createStorage()
  }
  else if (store === 'sqlite') {
    const driver = sessionSqliteDriver({ path: './.data/session/sessions.sqlite', createFolder: true })
    driver.open({ openTimeout: 5000 })
    storage = createStorage({ driver })
  }
  else {
    throw new Error(`BENCH_H3_STORE: unknown store ${store}`)
  }
  const options = { store: new UnstorageSessionStore(storage), secret: process.env.BENCH_SESSION_SECRET }

  router.get('/api/lazy', defineEventHandler(() => ({ ok: true })))
  router.get('/api/read', defineEventHandler(async (event) => {
    const session = await useSession(event, options)
    return { visits: session.data.visits ?? 0 }
  }))
  router.get('/api/write', defineEventHandler(async (event) => {
    const session = await useSession(event, options)
    session.update(data => ({ ...data, visits: (data.visits ?? 0) + 1 }))
    return { visits: session.data.visits }
  }))
}

app.use(router)
const server = createServer(toNodeListener(app)).listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1')
const stop = () => {
  server.close()
  server.closeAllConnections()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
