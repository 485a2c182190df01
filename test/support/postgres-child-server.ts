/**
 * A server of its own OS process for the cross-process tests of PostgresSessionStore: the test
 * starts two of them on one database and schema, each with its own store and pool, as two
 * instances of an app would share them. Run through jiti (`node --import jiti/register`,
 * `JITI_ALIAS` mapping `nuxt-server-session/h3` to the sources), with PORT, HOST,
 * NSS_POSTGRES_URL and NSS_POSTGRES_SCHEMA set.
 *
 * Routes: `gatedSessionApp()`'s (`/read`, `/set/:key/:value`, `/destroy`, `/slow/:mode/:token`,
 * `/regen/:token`, ...), `/pid`, `/gate/:token` (how many requests wait at the gate) and
 * `/gate/:token/open`, and the devices routes under `/plain` (no cap), `/evict`
 * (`maxSessionsPerUser: 2`, evict-oldest) and `/refuse` (`maxSessionsPerUser: 2`, refuse).
 */
import { createServer } from 'node:http'
import { defineEventHandler, getRouterParam, createRouter, toNodeListener } from 'h3'
import { PostgresSessionStore } from 'nuxt-server-session/h3'
import type { SessionOptions } from 'nuxt-server-session/h3'
import { SECRET } from './app'
import { devicesRouter } from './devices-app'
import { gatedSessionApp } from './store-scenarios'

const url = process.env.NSS_POSTGRES_URL
const schema = process.env.NSS_POSTGRES_SCHEMA
if (!url || !schema) throw new Error('NSS_POSTGRES_URL and NSS_POSTGRES_SCHEMA must be set')
const port = Number(process.env.PORT)
const host = process.env.HOST ?? '127.0.0.1'

const store = new PostgresSessionStore(url, { schema, poolSize: 20 })
const options: SessionOptions = { store, secret: SECRET, devices: { userAgent: true } }

const { app, gate } = gatedSessionApp(store)
app.use('/pid', defineEventHandler(() => ({ pid: process.pid })))
app.use(createRouter()
  .get('/gate/:token', defineEventHandler(event => ({ arrived: gate(getRouterParam(event, 'token')!).arrived })))
  .get('/gate/:token/open', defineEventHandler((event) => {
    gate(getRouterParam(event, 'token')!).open()
    return { ok: true }
  })))
app.use('/plain', devicesRouter(options).handler)
app.use('/evict', devicesRouter({ ...options, maxSessionsPerUser: 2 }).handler)
app.use('/refuse', devicesRouter({ ...options, maxSessionsPerUser: 2, sessionLimit: 'refuse' }).handler)

const server = createServer(toNodeListener(app))
server.listen(port, host)

const stop = () => {
  server.closeAllConnections()
  server.close(() => {
    void store.close().finally(() => process.exit(0))
  })
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
