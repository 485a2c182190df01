// The cost of finding the session cookie in a Cookie header (`readSessionCookie`, run on every
// request that asks for the session), on a browser-like header and on 16 KiB hostile headers
// made only of separators (which a parser that searches from each `;` to the end of the header
// pays for quadratically) or of empty cookies. Timed in-process on the source (Node strips the types).
import { readSessionCookie } from '../../src/runtime/server/core/cookie.ts'

const NAME = '__Host-sid'
const VALUE = `${'A'.repeat(43)}.${'B'.repeat(43)}`
const HOSTILE_BYTES = 16 * 1024

/** The headers timed: one a browser would send, and the hostile ones. */
export const HEADERS = {
  'normal': `_ga=GA1.1.1234567890.1700000000; theme=dark; ${NAME}=${VALUE}; lang=en-GB; _gid=GA1.1.987654321.1700000000`,
  '16 KiB of ";"': ';'.repeat(HOSTILE_BYTES),
  '16 KiB of "; "': '; '.repeat(HOSTILE_BYTES / 2),
  '16 KiB of "a;"': 'a;'.repeat(HOSTILE_BYTES / 2),
  // Not quadratic before either, but the most segments with an '=' a header can hold: the
  // linear worst case.
  '16 KiB of "a=;"': 'a=;'.repeat(Math.floor(HOSTILE_BYTES / 3)),
}

/** µs per call: the median of `rounds` timed batches, each at least `batchMs` long. */
function time(header, { rounds = 7, batchMs = 40 } = {}) {
  let sink = 0
  const call = () => {
    sink += readSessionCookie(header, NAME).kind.length
  }
  // Warm-up, and a batch size that takes about `batchMs`.
  let n = 1
  for (;;) {
    const start = performance.now()
    for (let i = 0; i < n; i++) call()
    if (performance.now() - start >= batchMs / 4) break
    n *= 2
  }
  n *= 4
  const perCall = []
  for (let r = 0; r < rounds; r++) {
    const start = performance.now()
    for (let i = 0; i < n; i++) call()
    perCall.push(((performance.now() - start) * 1000) / n)
  }
  if (sink < 0) console.log(sink)
  return perCall.sort((a, b) => a - b)[Math.floor(rounds / 2)]
}

/** `{ rows: [{ header, bytes, usPerCall, ratio }] }`, ratio to the normal header. */
export function measureCookieParse(options) {
  const rows = []
  for (const [header, text] of Object.entries(HEADERS)) rows.push({ header, bytes: text.length, usPerCall: time(text, options) })
  const normal = rows[0].usPerCall
  for (const row of rows) row.ratio = row.usPerCall / normal
  return { name: NAME, rows }
}

/** One line per header, as the benchmark prints them. */
export function cookieParseLines(result) {
  return result.rows.map(r => `readSessionCookie, ${r.header} (${r.bytes} B): ${r.usPerCall < 10 ? r.usPerCall.toFixed(3) : r.usPerCall.toFixed(1)} µs per call${r.header === 'normal' ? '' : `, ${r.ratio.toFixed(r.ratio < 10 ? 1 : 0)}× the normal header`}`)
}

// `npx node bench/lib/cookie-parse.mjs`: the figures alone, without the HTTP benchmark.
if (import.meta.main) {
  for (const line of cookieParseLines(measureCookieParse())) console.log(line)
}
