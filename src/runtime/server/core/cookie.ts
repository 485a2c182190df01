import type { ResolvedConfig } from './config'
import type { Context, SessionEvent, SessionHost } from './host'

const JAR = Symbol.for('nuxt-server-session:jar')
const EVENT = Symbol.for('nuxt-server-session:event')

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
 * Makes `event` reachable from its context, for the requests it makes through the server's
 * local fetch (SSR `$fetch`, Nuxt's `useRequestFetch`) and for `useServerSession()` without an
 * event. The server plugins call it on every request; it costs one property write.
 */
export function exposeEvent(event: SessionEvent): void {
  (event.context as Context)[EVENT] = event
}

/** The event whose context this is, once `exposeEvent` ran for it. */
export function eventOfContext(context: object | undefined): SessionEvent | undefined {
  return (context as Context | undefined)?.[EVENT] as SessionEvent | undefined
}

/**
 * Our cookie for this request. An internal request of a page render reads the cookie that an
 * earlier internal request of the same render set, so that every call of one render sees the
 * same session, even the first visit's.
 */
export function requestSessionCookie(host: SessionHost, event: SessionEvent, name: string): CookieRead {
  const jar = host.parentContext(event)?.[JAR] as Map<string, string> | undefined
  const value = jar?.get(name)
  if (value !== undefined) return value ? { kind: 'value', value } : { kind: 'none' }
  return readSessionCookie(host.cookieHeader(event), name)
}

/** Whether an internal request made by this one set our cookie, which then must not be cleared. */
export function childSetCookie(event: SessionEvent, name: string): boolean {
  return Boolean(((event.context as Context)[JAR] as Map<string, string> | undefined)?.get(name))
}

/**
 * Sends the session cookie, and marks the response as private: a shared cache must never hand
 * one visitor's cookie to another. From an internal request, the cookie also goes on the
 * response of the request that made it, which is the one the browser receives.
 */
export function writeSessionCookie(host: SessionHost, event: SessionEvent, config: ResolvedConfig, value: string, maxAge: number): void {
  const header = serializeCookie(config.name, value, config.cookie, Math.max(0, Math.floor(maxAge)))
  for (const target of _targets(host, event, config.name, value)) host.writeCookie(target, config.name, header)
}

/** Expires the session cookie with the same Path and Domain it was set with. */
export function clearSessionCookie(host: SessionHost, event: SessionEvent, config: ResolvedConfig): void {
  const header = serializeCookie(config.name, '', config.cookie, 0, true)
  for (const target of _targets(host, event, config.name, '')) host.writeCookie(target, config.name, header)
}

function _targets(host: SessionHost, event: SessionEvent, name: string, value: string): SessionEvent[] {
  const parent = host.parentContext(event)
  if (!parent) return [event]
  let jar = parent[JAR] as Map<string, string> | undefined
  if (!jar) parent[JAR] = jar = new Map()
  jar.set(name, value)
  const outer = parent[EVENT] as SessionEvent | undefined
  return outer && outer !== event && host.canWriteHeaders(outer) ? [event, outer] : [event]
}

/** The attributes of our cookie (ResolvedConfig['cookie']). */
interface CookieAttributes {
  path: string
  domain?: string
  httpOnly: boolean
  secure: boolean
  sameSite: 'lax' | 'strict' | 'none'
  partitioned?: boolean
}

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const
const EPOCH = new Date(0).toUTCString()

/**
 * A Set-Cookie value. Our values are base64url with a dot (or empty), names RFC 6265 tokens and
 * the domain and path checked when the options were resolved, so nothing needs encoding here.
 */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes, maxAge: number, expire = false): string {
  let header = `${name}=${value}; Max-Age=${maxAge}`
  if (attributes.domain) header += `; Domain=${attributes.domain}`
  header += `; Path=${attributes.path || '/'}`
  if (expire) header += `; Expires=${EPOCH}`
  if (attributes.httpOnly) header += '; HttpOnly'
  if (attributes.secure) header += '; Secure'
  if (attributes.partitioned) header += '; Partitioned'
  header += `; SameSite=${SAME_SITE[attributes.sameSite] ?? 'Lax'}`
  return header
}

/** Whether the Vary header value already names Cookie (or everything). */
export function variesOnCookie(vary: string | null | undefined): boolean {
  if (!vary) return false
  for (const part of vary.split(',')) {
    const name = part.trim().toLowerCase()
    if (name === 'cookie' || name === '*') return true
  }
  return false
}
