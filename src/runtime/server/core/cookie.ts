import type { H3Event } from 'h3'
import { appendResponseHeader, getResponseHeader, setCookie, setResponseHeader } from 'h3'
import type { ResolvedConfig } from './config'

const JAR = Symbol.for('nuxt-server-session:jar')
const EVENT = Symbol.for('nuxt-server-session:event')

type Context = Record<symbol, unknown>

/** What the request's Cookie header holds under our name. */
export type CookieRead
  = | { kind: 'none' }
    | { kind: 'duplicate' }
    | { kind: 'value', value: string }

/**
 * Finds our cookie in a Cookie header without decoding it: our values are base64url, so any
 * percent-encoding or other trick simply fails the format check later. Two cookies with our
 * name (one tossed in from a parent domain, say) are refused as a whole rather than guessed at.
 */
export function readSessionCookie(header: string | undefined, name: string): CookieRead {
  if (!header) return { kind: 'none' }
  let found: string | undefined
  let start = 0
  // Linear in the header's length (no search goes back over what an earlier one passed, but
  // for the segment it just found): only a segment with an '=' can name a cookie, so a run of
  // segments without one, a header of separators say, is skipped in one jump.
  let eq = header.indexOf('=')
  while (eq !== -1) {
    let end = header.indexOf(';', start)
    if (end !== -1 && end < eq) {
      start = header.lastIndexOf(';', eq) + 1
      end = header.indexOf(';', eq)
    }
    if (end === -1) end = header.length
    // A name shorter than ours cannot match once trimmed: no slice for it.
    if (eq - start >= name.length && header.slice(start, eq).trim() === name) {
      if (found !== undefined) return { kind: 'duplicate' }
      found = header.slice(eq + 1, end).trim()
    }
    start = end + 1
    eq = header.indexOf('=', start)
  }
  return found === undefined ? { kind: 'none' } : { kind: 'value', value: found }
}

/**
 * Makes `event` reachable from the requests it makes through Nitro's local fetch
 * (`event.$fetch`, Nuxt's `useRequestFetch` during SSR). The Nitro plugin calls it on every
 * request; it costs one property write.
 */
export function exposeEvent(event: H3Event): void {
  (event.context as unknown as Context)[EVENT] = event
}

/**
 * The context of the request that made this one through Nitro's local fetch, if any: h3's
 * `fetchWithEvent` hands the caller's `event.context` down, and node-mock-http keeps it on the
 * request as `__unenv__`.
 */
export function parentContext(event: H3Event): Context | undefined {
  const parent = (event.node.req as { __unenv__?: unknown }).__unenv__
  return parent && typeof parent === 'object' && parent !== event.context ? parent as Context : undefined
}

/**
 * Our cookie for this request. An internal request of a page render reads the cookie that an
 * earlier internal request of the same render set, so that every call of one render sees the
 * same session, even the first visit's.
 */
export function requestSessionCookie(event: H3Event, name: string): CookieRead {
  const jar = parentContext(event)?.[JAR] as Map<string, string> | undefined
  const value = jar?.get(name)
  if (value !== undefined) return value ? { kind: 'value', value } : { kind: 'none' }
  return readSessionCookie(event.node.req.headers.cookie, name)
}

/** Whether an internal request made by this one set our cookie, which then must not be cleared. */
export function childSetCookie(event: H3Event, name: string): boolean {
  return Boolean(((event.context as unknown as Context)[JAR] as Map<string, string> | undefined)?.get(name))
}

/**
 * Sends the session cookie, and marks the response as private: a shared cache must never hand
 * one visitor's cookie to another. From an internal request, the cookie also goes on the
 * response of the request that made it, which is the one the browser receives.
 */
export function writeSessionCookie(event: H3Event, config: ResolvedConfig, value: string, maxAge: number): void {
  const options = { ...config.cookie, maxAge: Math.max(0, Math.floor(maxAge)) }
  for (const target of _targets(event, config.name, value)) {
    setCookie(target, config.name, value, options)
    markPrivate(target)
  }
}

/** Expires the session cookie with the same Path and Domain it was set with. */
export function clearSessionCookie(event: H3Event, config: ResolvedConfig): void {
  for (const target of _targets(event, config.name, '')) {
    setCookie(target, config.name, '', { ...config.cookie, maxAge: 0, expires: new Date(0) })
    markPrivate(target)
  }
}

function _targets(event: H3Event, name: string, value: string): H3Event[] {
  const parent = parentContext(event)
  if (!parent) return [event]
  let jar = parent[JAR] as Map<string, string> | undefined
  if (!jar) parent[JAR] = jar = new Map()
  jar.set(name, value)
  const outer = parent[EVENT] as H3Event | undefined
  return outer && !outer.node.res.headersSent ? [event, outer] : [event]
}

function markPrivate(event: H3Event): void {
  setResponseHeader(event, 'cache-control', 'private, no-store')
  const vary = getResponseHeader(event, 'vary')
  const list = String(vary ?? '').toLowerCase().split(',').map(v => v.trim())
  if (!list.includes('cookie') && !list.includes('*')) appendResponseHeader(event, 'vary', 'Cookie')
}
