import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { App } from 'h3'
import { toNodeListener } from 'h3'

/** A running h3 app on a free loopback port. */
export interface TestServer {
  url: string
  close: () => Promise<void>
}

export async function serve(app: App): Promise<TestServer> {
  const server = createServer(toNodeListener(app))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

/** A parsed Set-Cookie header. */
export interface SetCookie {
  name: string
  value: string
  attributes: Record<string, string | true>
}

export function parseSetCookie(header: string): SetCookie {
  const [pair = '', ...attrs] = header.split(';').map(s => s.trim())
  const eq = pair.indexOf('=')
  const attributes: Record<string, string | true> = {}
  for (const attr of attrs) {
    const i = attr.indexOf('=')
    if (i === -1) attributes[attr.toLowerCase()] = true
    else attributes[attr.slice(0, i).toLowerCase()] = attr.slice(i + 1)
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes }
}

/**
 * A client with a cookie jar, as a browser would keep it: cookies set by responses are sent
 * back on later requests, and a cookie with Max-Age=0 is forgotten.
 */
export class Client {
  readonly jar = new Map<string, string>()
  constructor(readonly base: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    if (this.jar.size && !headers.has('cookie')) headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '))
    const res = await fetch(this.base + path, { redirect: 'manual', ...init, headers })
    for (const header of res.headers.getSetCookie()) {
      const cookie = parseSetCookie(header)
      if (cookie.attributes['max-age'] === '0' || cookie.value === '') this.jar.delete(cookie.name)
      else this.jar.set(cookie.name, cookie.value)
    }
    return res
  }

  async json<T = any>(path: string, init?: RequestInit): Promise<T> {
    const res = await this.fetch(path, init)
    return await res.json() as T
  }
}
