/**
 * What the core needs from the server it runs in, one request at a time: the Cookie header in,
 * Set-Cookie values out, the request's context for its state. An adapter per server generation
 * implements it (`../adapters/h3-v1`, `../adapters/h3-v2`); the core itself imports no framework.
 */

/** The per-request object every h3 generation has (`event.context`); the core keeps its state there and on the event. */
export type Context = Record<PropertyKey, unknown>

/** An h3 event of either generation, as far as the core looks at it: something with a context. */
export interface SessionEvent {
  context: object
}

export interface SessionHost {
  /** A name for logs and errors: `h3 1` or `h3 2`. */
  readonly name: string
  /** The request's Cookie header. */
  cookieHeader: (event: SessionEvent) => string | undefined
  /** A request header, for the device label the app opted in to. */
  requestHeader: (event: SessionEvent, name: string) => string | undefined
  /** The client's address, for the device label the app opted in to. */
  remoteAddress: (event: SessionEvent) => string | undefined
  /** Whether the response's headers can still change (false once h3 1 sent them). */
  canWriteHeaders: (event: SessionEvent) => boolean
  /**
   * Puts `setCookie` (a serialised Set-Cookie value for cookie `name`) on the response, in place
   * of one of the same name set earlier in the request, and marks the response private.
   */
  writeCookie: (event: SessionEvent, name: string, setCookie: string) => void
  /**
   * Marks the response for no shared cache: `Cache-Control: private, no-store` and `Vary: Cookie`;
   * with `varyOnly`, only `Vary: Cookie` (a response that is the same for every visitor without a session).
   */
  markPrivate: (event: SessionEvent, varyOnly?: boolean) => void
  /** Sets a response header (where the headers can still change). */
  writeHeader: (event: SessionEvent, name: string, value: string) => void
  /** The context of the request that made this one through the server's local fetch (SSR), if any. */
  parentContext: (event: SessionEvent) => Context | undefined
  /**
   * Whether `event` runs a cached handler (route rules `cache`/`swr`, `defineCachedEventHandler`),
   * whose response is replayed to every visitor: there a session is anonymous and never saved.
   */
  inCachedHandler: (event: SessionEvent) => boolean
  /** Arms the automatic save for one request where the generation does it per request (h3 1). */
  installAutoSave?: (event: SessionEvent, state: AutoSaveTarget) => void
}

/** What an automatic save needs of a session: the core's SessionState. */
export interface AutoSaveTarget {
  readonly config: { readonly logger: { error: (message: string, ...details: unknown[]) => void } }
  /** Whether a flush now would do nothing. */
  idle: () => boolean
  /** Commit, then the cookie. */
  flush: () => Promise<void>
  /** No more writes: the response went with a 5xx. */
  close: () => void
}
