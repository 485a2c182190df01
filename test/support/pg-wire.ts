import { once } from 'node:events'
import { createServer, connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'

/**
 * A loopback TCP proxy in front of a PostgreSQL server that reads the frontend protocol the
 * client sends (https://www.postgresql.org/docs/current/protocol-message-formats.html) and
 * counts what it asks for, to prove how many statements and round trips an operation costs.
 *
 * After the untyped startup packet (and any SSLRequest / GSSENCRequest before it), every
 * message is one type byte and an int32 length that counts itself. A simple query (`Q`) is one
 * statement and one round trip; in the extended protocol a statement is an Execute (`E`) of the
 * statement last bound (`B`), and a round trip ends with a Sync (`S`). Parse (`P`) is seen but
 * not counted: it is how a prepared statement is made, once per connection. Bytes are passed on
 * unchanged, and parsed before they are passed on, so an operation that resolved has been
 * counted. Like test/support/tcp-proxy.ts, `cut()` drops every connection and refuses new ones.
 */
export interface PgWireTally {
  /** Statements run: one per `Q` (its text) and one per `E` (the bound statement's name, or the text of an unnamed one). */
  statements: string[]
  /** `Q` messages. */
  queries: number
  /** `E` messages. */
  executes: number
  /** `S` messages. */
  syncs: number
  /** `P` messages (a statement parsed). */
  parses: number
  /** Round trips: each `Q`, and each `S`. */
  roundTrips: number
}

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const CANCEL_REQUEST = 80877102

/** A NUL-terminated string at `at` in `body`, and the offset after it. */
function cstring(body: Buffer, at: number): [string, number] {
  const end = body.indexOf(0, at)
  if (end === -1) return [body.subarray(at).toString('utf8'), body.length]
  return [body.subarray(at, end).toString('utf8'), end + 1]
}

function emptyTally(): PgWireTally {
  return { statements: [], queries: 0, executes: 0, syncs: 0, parses: 0, roundTrips: 0 }
}

/** The frontend messages of one connection, fed chunk by chunk. */
function frontendParser(tally: () => PgWireTally, onCancel: () => void) {
  let buffer: Buffer = Buffer.alloc(0)
  let startup = true
  let bound = ''
  /** The text of the unnamed statement, from its last Parse. */
  let unnamed = ''
  return (chunk: Buffer) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk
    // Bounded: every turn consumes at least 4 bytes of what arrived.
    for (;;) {
      if (startup) {
        if (buffer.length < 8) return
        const length = buffer.readInt32BE(0)
        if (length < 8) throw new Error(`pg-wire: bad startup packet length ${length}`)
        if (buffer.length < length) return
        const code = buffer.readInt32BE(4)
        buffer = buffer.subarray(length)
        if (code === CANCEL_REQUEST) onCancel()
        // After an SSL or GSS request the client sends its startup packet (the proxy cannot read TLS).
        else if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false
        continue
      }
      if (buffer.length < 5) return
      const type = String.fromCharCode(buffer[0]!)
      const length = buffer.readInt32BE(1)
      if (length < 4) throw new Error(`pg-wire: bad length ${length} of a ${type} message`)
      if (buffer.length < 1 + length) return
      const body = buffer.subarray(5, 1 + length)
      buffer = buffer.subarray(1 + length)
      const t = tally()
      switch (type) {
        case 'Q':
          t.queries++
          t.roundTrips++
          t.statements.push(cstring(body, 0)[0])
          break
        case 'P': {
          t.parses++
          const [name, after] = cstring(body, 0)
          if (name === '') unnamed = cstring(body, after)[0]
          break
        }
        case 'B': {
          const [, after] = cstring(body, 0) // the portal
          bound = cstring(body, after)[0] || unnamed
          break
        }
        case 'E':
          t.executes++
          t.statements.push(bound)
          break
        case 'S':
          t.syncs++
          t.roundTrips++
          break
      }
    }
  }
}

/** Starts the proxy on a free 127.0.0.1 port in front of `target`. */
export async function pgWireProxy(target: { host: string, port: number }) {
  const sockets = new Set<Socket>()
  let open = true
  let tally = emptyTally()
  let cancels = 0
  let errors = 0
  const server = createServer((client) => {
    if (!open) return client.destroy()
    const upstream = connect(target.port, target.host)
    sockets.add(client).add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    const parse = frontendParser(() => tally, () => cancels++)
    client.on('data', (chunk: Buffer) => {
      try {
        parse(chunk)
      }
      catch {
        // A stream the proxy cannot read is a test failure (see `errors`), not a crash.
        errors++
      }
      upstream.write(chunk)
    })
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    upstream.pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return {
    port,
    /** `url` (a postgres:// URL of the target) pointed at the proxy instead. */
    via(url: string): string {
      const parsed = new URL(url)
      parsed.hostname = '127.0.0.1'
      parsed.port = String(port)
      return parsed.href
    },
    /** What was counted since the last `take()`, and a fresh count from now on. */
    take(): PgWireTally {
      const taken = tally
      tally = emptyTally()
      return taken
    },
    /** CancelRequest packets seen, and chunks the parser could not read (both should stay 0). */
    get cancels() {
      return cancels
    },
    get errors() {
      return errors
    },
    /** Client connections open now. */
    get connections() {
      return sockets.size / 2
    },
    cut() {
      open = false
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    restore() {
      open = true
    },
    async close() {
      this.cut()
      await new Promise(resolve => server.close(resolve))
    },
  }
}

export type PgWireProxy = Awaited<ReturnType<typeof pgWireProxy>>
