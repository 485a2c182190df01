import type { H3Event } from 'h3'
import { appendResponseHeader, getResponseHeader, setCookie, setResponseHeader } from 'h3'
import type { ResolvedConfig } from './config'

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
  while (start < header.length) {
    let end = header.indexOf(';', start)
    if (end === -1) end = header.length
    const eq = header.indexOf('=', start)
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) {
      if (found !== undefined) return { kind: 'duplicate' }
      found = header.slice(eq + 1, end).trim()
    }
    start = end + 1
  }
  return found === undefined ? { kind: 'none' } : { kind: 'value', value: found }
}

/**
 * Sends the session cookie, and marks the response as private: a shared cache must never hand
 * one visitor's cookie to another.
 */
export function writeSessionCookie(event: H3Event, config: ResolvedConfig, value: string, maxAge: number): void {
  setCookie(event, config.name, value, { ...config.cookie, maxAge: Math.max(0, Math.floor(maxAge)) })
  markPrivate(event)
}

/** Expires the session cookie with the same Path and Domain it was set with. */
export function clearSessionCookie(event: H3Event, config: ResolvedConfig): void {
  setCookie(event, config.name, '', { ...config.cookie, maxAge: 0, expires: new Date(0) })
  markPrivate(event)
}

function markPrivate(event: H3Event): void {
  setResponseHeader(event, 'cache-control', 'private, no-store')
  const vary = getResponseHeader(event, 'vary')
  const list = String(vary ?? '').toLowerCase().split(',').map(v => v.trim())
  if (!list.includes('cookie') && !list.includes('*')) appendResponseHeader(event, 'vary', 'Cookie')
}
