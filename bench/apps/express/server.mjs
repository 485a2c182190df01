// Peer: Express 5 + express-session + connect-redis (node-redis client). Needs no build.
// PORT, HOST, BENCH_REDIS_URL and BENCH_EXPRESS_SECRET come from the benchmark at start.
import { RedisStore } from 'connect-redis'
import express from 'express'
import session from 'express-session'
import { createClient } from 'redis'

const client = createClient({ url: process.env.BENCH_REDIS_URL })
client.on('error', () => {})
await client.connect()

const sessions = session({
  store: new RedisStore({ client, prefix: 'bench-express:' }),
  secret: process.env.BENCH_EXPRESS_SECRET,
  resave: false,
  saveUninitialized: false,
  // Secure cookies are not set over plain HTTP by express-session; the benchmark talks HTTP.
  cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 86_400_000 },
})

const app = express()
app.disable('x-powered-by')
app.set('etag', false)

// Bare routes: the baseline of this peer, in the same process.
app.get('/api/lazy', (_req, res) => {
  res.json({ ok: true })
})
app.get('/api/read', (_req, res) => {
  res.json({ visits: 0 })
})
let visits = 0
app.get('/api/write', (_req, res) => {
  res.json({ visits: ++visits })
})

app.get('/api/session/read', sessions, (req, res) => {
  res.json({ visits: req.session.visits ?? 0 })
})
app.get('/api/session/write', sessions, (req, res) => {
  req.session.visits = (req.session.visits ?? 0) + 1
  res.json({ visits: req.session.visits })
})

const server = app.listen(Number(process.env.PORT), process.env.HOST || '127.0.0.1')
const stop = () => {
  server.close()
  server.closeAllConnections?.()
  client.quit().catch(() => {}).finally(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
