import type { NitroModule } from 'nitropack/types'
import { aliasMissingClients, mountDefaultStorage, registerRuntime, runtimePaths, sessionRuntimeConfig } from './setup'
import type { ModuleOptions, SessionRuntimeConfig, SessionRuntimeHooks } from './types'

export type { ModuleOptions, ModuleCookieOptions, SessionLifecycleEvent, SessionRuntimeConfig, SessionRuntimeHooks } from './types'

declare module 'nitropack' {
  interface NitroConfig {
    /** nuxt-server-session options. */
    session?: ModuleOptions
  }
}

// The lifecycle hooks (`session:created`, ...) on `nitroApp.hooks`. An augmentation must declare
// members to extend with, hence the disable.
/* eslint-disable @typescript-eslint/no-empty-object-type */
declare module 'nitropack/types' {
  interface NitroRuntimeHooks extends SessionRuntimeHooks {}
}
/* eslint-enable @typescript-eslint/no-empty-object-type */

// Nitro 3 (the `nitro` package): the same key in `defineConfig` from 'nitro'.
declare module 'nitro/types' {
  interface NitroConfig {
    /** nuxt-server-session options. */
    session?: ModuleOptions
  }
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface NitroRuntimeHooks extends SessionRuntimeHooks {}
}

/**
 * `nuxt-server-session/nitro`: the same sessions for a standalone Nitro app, Nitro 2 (nitropack)
 * or Nitro 3 (nitro): `modules: ['nuxt-server-session/nitro']`, options under `session`.
 */
const module: NitroModule = {
  name: 'nuxt-server-session',
  setup(nitro) {
    const { options } = nitro
    const runtimeConfig = options.runtimeConfig as { session?: SessionRuntimeConfig, nitro?: { envPrefix?: string } }
    runtimeConfig.session = sessionRuntimeConfig((options as { session?: ModuleOptions }).session ?? {}, runtimeConfig.session, options.dev)
    // So that NUXT_SESSION_* work here as in Nuxt (NITRO_SESSION_* work too), unless the app chose a prefix.
    runtimeConfig.nitro ??= {}
    runtimeConfig.nitro.envPrefix ??= 'NUXT_'
    const paths = runtimePaths(import.meta.url)
    mountDefaultStorage(nitro, runtimeConfig.session.storage, paths.sqliteDriver)
    aliasMissingClients(nitro, paths)
    registerRuntime(nitro, paths)
  },
}

// A plain object rather than `defineNitroModule()`: nothing of nitropack is loaded at run time, so
// the module also imports from source in a nitro.config.
export default module
