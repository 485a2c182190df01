import { afterAll, beforeAll, describe } from 'vitest'
import { createStorage } from 'unstorage'
import { UnstorageSessionStore } from 'nuxt-server-session/h3'
import type { SessionOptions } from 'nuxt-server-session/h3'
import { checkAppV1, checkAppV2, serve, serveV2App } from '../support/check-apps'
import { itPassesTheRuntimeChecks } from '../support/runtime-checks'
import type { TestServer } from '../support/server'

const SECRET = 'h3-generations-secret-0123456789-0123456789'

function options(): SessionOptions {
  // Secure as in production (the checks expect the `__Host-` cookie), memory storage per app.
  return { store: new UnstorageSessionStore(createStorage(), { prefix: 'sess' }), secret: SECRET, cookie: { secure: true } }
}

describe('[nuxt-server-session] plain h3 1 app (h3 1.15.11, createApp, Node http)', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await serve(checkAppV1(options()))
  })
  afterAll(() => server?.close())
  itPassesTheRuntimeChecks(() => server.url)
})

describe('[nuxt-server-session] plain h3 2 app (h3 2.0.8 as h3-v2, new H3(), serve(), app.use(sessionAutoSave()))', () => {
  let server: TestServer
  beforeAll(async () => {
    server = await serveV2App(checkAppV2(options()))
  })
  afterAll(() => server?.close())
  itPassesTheRuntimeChecks(() => server.url)
})
