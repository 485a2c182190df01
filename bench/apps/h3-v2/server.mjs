// Plain h3 2 (`h3-v2`, the npm alias of h3 2.0.8) under its own `serve()` (srvx on node:http),
// with nuxt-server-session/h3 imported by its name, as a user imports it: from
// bench/node_modules/nuxt-server-session, the package as installed (its package.json and a dist/
// built by nuxt-module-build), which the benchmark rebuilds when src/ changed. Needs no build of
// its own.
//
// BENCH_H3_STORE picks the app: unset = the bare app (the baseline: the same routes and JSON,
// no session, nothing of the library loaded); `memory` = UnstorageSessionStore on unstorage's
// memory driver (`createStorage()`); `sqlite` = UnstorageSessionStore on the library's SQLite
// driver (what the modules mount by default), under ./.data/session in the server's cwd;
// `postgres` = PostgresSessionStore on BENCH_POSTGRES_URL, table BENCH_POSTGRES_TABLE (its
// default pool of 10 connections).
// The session apps put `sessionAutoSave()` first, as the README says, and ask for the session
// in the routes that use it only: /api/lazy never does. PORT, HOST and BENCH_SESSION_SECRET
// come from the benchmark at start.
import { H3, serve } from 'h3-v2'

const store = process.env.BENCH_H3_STORE
const app = new H3()

if (!store) {
  app.get('/api/lazy', () => ({ ok: true }))
  app.get('/api/read', () => ({ visits: 0 }))
  let visits = 0
  app.get('/api/write', () => ({ visits: ++visits }))
}
else {
  const { createStorage } = await import('unstorage')
  const { PostgresSessionStore, sessionAutoSave, sessionSqliteDriver, UnstorageSessionStore, useSession } = await import('nuxt-server-session/h3')
  let storage
  let sessionStore
  if (store === 'postgres') {
    sessionStore = new PostgresSessionStore(process.env.BENCH_POSTGRES_URL, { table: process.env.BENCH_POSTGRES_TABLE })
    await sessionStore.check()
  }
  else if (store === 'memory') {
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
  const options = { store: sessionStore ?? new UnstorageSessionStore(storage), secret: process.env.BENCH_SESSION_SECRET }

  app.use(sessionAutoSave())
  app.get('/api/lazy', () => ({ ok: true }))
  app.get('/api/read', async (event) => {
    const session = await useSession(event, options)
    return { visits: session.data.visits ?? 0 }
  })
  app.get('/api/write', async (event) => {
    const session = await useSession(event, options)
    session.update(data => ({ ...data, visits: (data.visits ?? 0) + 1 }))
    return { visits: session.data.visits }
  })
}

const server = serve(app, { port: Number(process.env.PORT), hostname: process.env.HOST || '127.0.0.1', silent: true, gracefulShutdown: false })
await server.ready()
const stop = () => {
  server.close(true).finally(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
