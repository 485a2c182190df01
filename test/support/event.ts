import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import { createEvent } from 'h3'
import type { H3Event } from 'h3'

/** A real, unconnected Node request/response pair as an h3 event: for checks that need no network. */
export function offlineEvent(cookie?: string): H3Event {
  const req = new IncomingMessage(new Socket())
  req.method = 'GET'
  req.url = '/'
  if (cookie) req.headers.cookie = cookie
  return createEvent(req, new ServerResponse(req))
}
