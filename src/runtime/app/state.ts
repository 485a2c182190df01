/**
 * What the Nuxt app keeps of the session: the public state the server rendered into the page
 * (`useState`), and how the client keeps it fresh. Imports no server code: during SSR the
 * server plugin asks the session plugin for the state through the global below.
 */

/** The `useState` key, in the SSR payload. */
export const STATE_KEY = 'nuxt-server-session'
/** On the page's event context when one of its internal requests changed the session (the core's mark). */
export const CHANGED_MARK = Symbol.for('nuxt-server-session:changed')
/** A `useState` key set when the session changed while the page rendered: the browser loads the state once mounted. */
export const STALE_KEY = 'nuxt-server-session:stale'
/** The response header of a request that changed the session (see the core's `_tellPages`). */
export const CHANGED_HEADER = 'x-session-changed'
/** The BroadcastChannel on which tabs of this origin tell each other that the state changed. */
export const CHANNEL = 'nuxt-server-session'
/** Where the Nitro plugin puts `publicSessionState` for the SSR plugin, on the global object. */
export const PUBLIC_STATE = Symbol.for('nuxt-server-session:public-state')

/** What pages see of the session: `loggedIn`, and the data keys the app exposed. Never the id. */
export interface SessionPageState<T = Record<string, unknown>> {
  loggedIn: boolean
  data: Partial<T>
}

/** The client plugin's two actions, provided as `$serverSession`. */
export interface SessionSync {
  refresh: () => Promise<void>
  clear: () => Promise<void>
}
