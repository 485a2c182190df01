import { defineNitroModule } from 'nitropack/kit'

export type { ModuleOptions } from './types'

/**
 * `nuxt-server-session/nitro`: the same sessions for a standalone Nitro app
 * (`modules: ['nuxt-server-session/nitro']`). The request wiring lands with the module issue.
 */
export default defineNitroModule({
  name: 'nuxt-server-session',
  setup() {},
})
