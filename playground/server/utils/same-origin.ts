import type { H3Event } from 'h3'

/**
 * Refuses form posts sent by other sites: browsers send Origin with them. (The session cookie is
 * SameSite=Lax, so such a post would carry no session anyway; this makes the refusal explicit.)
 */
export function refuseCrossSite(event: H3Event): void {
  const origin = getRequestHeader(event, 'origin')
  if (origin && origin !== getRequestURL(event).origin) {
    throw createError({ statusCode: 403, statusMessage: 'Forbidden', message: 'Cross-site request refused.' })
  }
}
