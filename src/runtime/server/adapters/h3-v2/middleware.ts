import { exposeEvent } from '../../core/cookie'
import { isSessionError } from '../../core/errors'
import type { SessionError } from '../../core/errors'
import type { Context } from '../../core/host'
import { getMountedSession } from '../../core/session'
import type { SessionState } from '../../core/session'
import { markPrivate, ORIGINAL_REQUEST, PARENT, SENT_COOKIE } from './host'
import type { V2Event } from './host'

type Next = () => unknown

/** h3 2's marker of its `HTTPResponse` (what `redirect()` and `html()` return). */
const HTTP_RESPONSE = Symbol.for('h3.HTTPResponse')

interface Carrier {
  run: <R>(store: Context, fn: () => R) => R
  getStore: () => Context | undefined
}

/**
 * The request that is running, across the awaits of its handler: a request made through the
 * server's local fetch (Nuxt's SSR `$fetch`) starts inside the one that made it, and finds its
 * context here. `node:async_hooks`, where the runtime has it (Node, Bun, Deno, Workers with
 * nodejs_compat); elsewhere internal requests simply stand alone.
 */
const carrier: Carrier | undefined = (() => {
  try {
    const hooks = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:async_hooks') as { AsyncLocalStorage?: new () => Carrier } | undefined
    return hooks?.AsyncLocalStorage ? new hooks.AsyncLocalStorage() : undefined
  }
  catch {
    return undefined
  }
})()

/**
 * Automatic saving for h3 2 (`app.use(sessionAutoSave())`, first among the middleware; the Nitro
 * 3 plugin installs it by itself). Around the rest of the request: once the handler has returned
 * or thrown, the session is saved, unless the answer is a 5xx, and its cookie goes on the
 * headers h3 builds the response with: after a returned value, a redirect, a returned `Response`
 * and a thrown 4xx alike. A failed save answers with its own status (503 for a store outage)
 * instead of the handler's answer, so that a client is never told "done" about a lost change.
 * Errors of this library reach h3 as its `HTTPError`s, with their status and message.
 */
export function sessionAutoSave(): (event: unknown, next: Next) => Promise<unknown> {
  return _sessionAutoSave
}

function _sessionAutoSave(event: unknown, next: Next): Promise<unknown> {
  const e = event as V2Event
  const context = e.context as Context
  if (context[ORIGINAL_REQUEST] !== undefined) return Promise.resolve(next())
  context[ORIGINAL_REQUEST] = e.req
  exposeEvent(e)
  const parent = carrier?.getStore()
  if (parent && parent !== context) context[PARENT] = parent
  let pending: unknown
  try {
    pending = carrier ? carrier.run(context, next) : next()
  }
  catch (error) {
    pending = Promise.reject(error)
  }
  return Promise.resolve(pending).then(
    value => _settle(e, _statusOf(value, e)).then(() => value),
    (error: unknown) => _settle(e, _errorStatus(error)).then(() => {
      throw toHttpError(error)
    }),
  )
}

/** Saves the session of a request that answered with `status`, or closes it after a 5xx. */
function _settle(event: V2Event, status: number): Promise<void> {
  const state = getMountedSession(event)
  if (!state || state.detached) return Promise.resolve()
  if (status >= 500) {
    state.close()
    return Promise.resolve()
  }
  if (state.idle()) return Promise.resolve()
  return _flush(state)
}

function _flush(state: SessionState): Promise<void> {
  return state.flush().catch((error: unknown) => {
    throw toHttpError(error)
  })
}

function _statusOf(value: unknown, event: V2Event): number {
  if (value instanceof Response || (value as { [HTTP_RESPONSE]?: boolean } | null)?.[HTTP_RESPONSE] === true) return Number((value as { status?: number }).status) || 200
  return Number(event.res.status) || 200
}

function _errorStatus(error: unknown): number {
  const { status, statusCode } = (error ?? {}) as { status?: unknown, statusCode?: unknown }
  const code = Number(status ?? statusCode)
  return code >= 100 && code <= 599 ? code : 500
}

/**
 * One of our errors as h3 2 takes its own (`HTTPError.isError`: an Error named "HTTPError" with
 * a status), so that it answers with the status and message and does not log it as unhandled;
 * the original stays as `cause`, server-side. Other errors pass unchanged.
 */
export function toHttpError(error: unknown): unknown {
  return isSessionError(error) ? new SessionHttpError(error) : error
}

class SessionHttpError extends Error {
  declare readonly status: number
  declare readonly statusText: string
  declare readonly headers: Headers | undefined
  declare readonly unhandled: boolean
  declare readonly data: unknown
  declare readonly body: Record<string, unknown>

  constructor(error: SessionError) {
    super(error.message, { cause: error })
    this.status = error.statusCode
    this.statusText = error.statusMessage
    this.headers = new Headers({ 'cache-control': 'private, no-store' })
    this.unhandled = false
    this.data = undefined
    this.body = { code: error.code }
  }

  override get name(): string {
    return 'HTTPError'
  }

  get statusCode(): number {
    return this.status
  }

  get statusMessage(): string {
    return this.statusText
  }

  toJSON(): Record<string, unknown> {
    return { status: this.status, statusText: this.statusText, message: this.message, ...this.body }
  }
}

/**
 * Nitro 3's `response` hook: an error's response comes from Nitro's error handler, which does
 * not take the event's headers, so a session saved on a thrown 4xx would lose its cookie there.
 * Puts it on (once: a response that carries it already is left alone).
 */
export function carryCookie(response: Response, event: unknown): void {
  const header = ((event as V2Event | undefined)?.context as Context | undefined)?.[SENT_COOKIE] as string | undefined
  if (!header) return
  const name = header.slice(0, header.indexOf('=') + 1)
  try {
    if (response.headers.getSetCookie().some(value => value.startsWith(name))) return
    response.headers.append('set-cookie', header)
    markPrivate(response.headers)
  }
  catch {
    // Immutable headers (a proxied fetch Response): h3 merged the event's headers into it already.
  }
}
