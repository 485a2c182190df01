/**
 * A server of its own OS process for the cross-process tests of the SQLite store: the test
 * starts several of them on one database file, as node-cluster workers or two instances share
 * it. Run through jiti (`node --import jiti/register`, `JITI_ALIAS` mapping
 * `nuxt-server-session/h3` to the sources), with PORT, HOST and NSS_SQLITE_FILE set.
 *
 * Routes: `sessionApp()`'s (`/read`, `/set/:key/:value`, ...), `/pid`, and the devices routes
 * three times over, under `/plain` (no cap), `/evict` (`maxSessionsPerUser: 2`, evict-oldest)
 * and `/refuse` (`maxSessionsPerUser: 2`, refuse). All of them share one store and one secret.
 */
import { createServer } from 'node:http'
import { defineEventHandler, toNodeListener } from 'h3'
import { createStorage } from 'unstorage'
import { UnstorageSessionStore, sessionSqliteDriver } from 'nuxt-server-session/h3'
import type { SessionOptions } from 'nuxt-server-session/h3'
import { SECRET, sessionApp } from './app'
import { devicesRouter } from './devices-app'

const file = process.env.NSS_SQLITE_FILE
if (!file) throw new Error('NSS_SQLITE_FILE is not set')
const port = Number(process.env.PORT)
const host = process.env.HOST ?? '127.0.0.1'

const storage = createStorage({ driver: sessionSqliteDriver({ path: file }) })
const store = new UnstorageSessionStore(storage, { prefix: 'sess' })
const options: SessionOptions = { store, secret: SECRET, devices: { userAgent: true } }

const { app } = sessionApp({ store })
app.use('/pid', defineEventHandler(() => ({ pid: process.pid })))
app.use('/plain', devicesRouter(options).handler)
app.use('/evict', devicesRouter({ ...options, maxSessionsPerUser: 2 }).handler)
app.use('/refuse', devicesRouter({ ...options, maxSessionsPerUser: 2, sessionLimit: 'refuse' }).handler)

const server = createServer(toNodeListener(app))
server.listen(port, host)

const stop = () => {
  server.closeAllConnections()
  server.close(() => {
    void storage.dispose().finally(() => process.exit(0))
  })
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
