import { addComponent, addImports, addNitroPlugin, addPlugin, addRouteMiddleware, addServerHandler, addServerImports, addTypeTemplate, defineNuxtModule, getNuxtVersion } from '@nuxt/kit'
import { SERVER_IMPORTS, aliasMissingClients, mountDefaultStorage, runtimePaths, sessionRuntimeConfig } from './setup'
import type { SessionPublicRuntimeConfig } from './runtime/types'
import type { ModuleOptions } from './types'
// Types the `nitro:init` hook (Nuxt declares its Nitro hooks there).
import type {} from '@nuxt/nitro-server/augments'

export type { ModuleOptions, ModuleCookieOptions, ModuleRuntimeConfig, SessionLifecycleEvent, SessionRuntimeConfig, SessionRuntimeHooks } from './types'
export type { ServerSession, SessionCookieOptions, SessionData, SessionDataT, SessionOptions } from './runtime/types'
export type { SessionRecord, SessionStore, SessionWrite } from './runtime/server/core/store'

/**
 * `nuxt-server-session`: server-side sessions for Nuxt. Options go under the `session` key and
 * into private `runtimeConfig.session`; server routes call the auto-imported
 * `useServerSession(event)`.
 */
export default defineNuxtModule<ModuleOptions>({
  meta: {
    name: 'nuxt-server-session',
    configKey: 'session',
    compatibility: { nuxt: '>=4.0.0' },
  },
  setup(options, nuxt) {
    const runtimeConfig = nuxt.options.runtimeConfig as { session?: ReturnType<typeof sessionRuntimeConfig> }
    runtimeConfig.session = sessionRuntimeConfig(options, runtimeConfig.session, nuxt.options.dev)
    // Pages follow the session here (useSessionState): responses that change it say so.
    runtimeConfig.session.pages.changedHeader = true
    const paths = runtimePaths(import.meta.url)
    nuxt.hook('nitro:init', (nitro) => {
      mountDefaultStorage(nitro, runtimeConfig.session!.storage, paths.sqliteDriver)
      aliasMissingClients(nitro, paths)
    })
    // One plugin per server generation: Nuxt 4 runs Nitro 2 (h3 1), Nuxt 5 Nitro 3 (h3 2).
    addNitroPlugin({ nitro2: paths.pluginV2, nitro3: paths.pluginV3 })
    // The utils import no Nitro: one file for both generations.
    addServerImports(SERVER_IMPORTS.map(name => ({ name, from: paths.utils })))
    // Types the lifecycle hooks (`session:created`, ...) on `nitroApp.hooks`, for the running
    // generation's Nitro only: the package's own types name neither, so that plain h3 apps,
    // which have no Nitro, type-check without skipLibCheck.
    const nitroTypes = Number.parseInt(getNuxtVersion(nuxt), 10) >= 5 ? 'nitro/types' : 'nitropack/types'
    addTypeTemplate({
      filename: 'types/nuxt-server-session-hooks.d.ts',
      getContents: () => `import type { SessionRuntimeHooks } from 'nuxt-server-session'\ndeclare module '${nitroTypes}' {\n  interface NitroRuntimeHooks extends SessionRuntimeHooks {}\n}\nexport {}\n`,
    }, { nitro: true, nuxt: true })

    // The session in pages: the public state rendered into the page and kept fresh in the
    // browser (useSessionState, <SessionState>), loaded and cleared through one route.
    const route = options.pages?.route || '/api/_session'
    const publicConfig = nuxt.options.runtimeConfig.public as { serverSession?: Partial<SessionPublicRuntimeConfig> }
    const existing = publicConfig.serverSession ?? {}
    publicConfig.serverSession = {
      route: existing.route || route,
      login: existing.login || options.pages?.login || '/login',
      home: existing.home || options.pages?.home || '/',
    }
    addServerHandler({ route, handler: paths.stateRoute })
    addImports({ name: 'useSessionState', from: `${paths.appDir}/composables/session` })
    addComponent({ name: 'SessionState', filePath: `${paths.appDir}/components/SessionState` })
    addPlugin({ src: `${paths.appDir}/plugins/session.server`, mode: 'server' })
    addPlugin({ src: `${paths.appDir}/plugins/session.client`, mode: 'client' })
    // Page guards: `definePageMeta({ middleware: 'signed-in' })`, and 'guest' for the login page.
    addRouteMiddleware({ name: 'signed-in', path: `${paths.appDir}/middleware/signed-in` })
    addRouteMiddleware({ name: 'guest', path: `${paths.appDir}/middleware/guest` })
    nuxt.options.build.transpile.push(paths.appDir)
  },
})
