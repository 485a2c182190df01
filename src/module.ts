import { defineNuxtModule } from '@nuxt/kit'
import type { ModuleOptions } from './types'

export type { ModuleOptions } from './types'
export type { ServerSession, SessionCookieOptions, SessionData, SessionDataT, SessionOptions } from './runtime/types'
export type { SessionRecord, SessionStore, SessionWrite } from './runtime/server/core/store'

/**
 * `nuxt-server-session`: server-side sessions for Nuxt. Configure it under the `session` key.
 * The request wiring (server plugin, auto-imports, storage mount) lands with the module issue;
 * until then the module only registers its options.
 */
export default defineNuxtModule<ModuleOptions>({
  meta: {
    name: 'nuxt-server-session',
    configKey: 'session',
    compatibility: { nuxt: '>=4.0.0' },
  },
  defaults: {},
  setup() {},
})
