import type { H3Event } from 'h3'
import { useSession } from 'h3'

/** h3's own session: the data sealed (iron-webcrypto) into the cookie itself. */
export function useH3Session(event: H3Event) {
  return useSession<{ visits?: number }>(event, { name: 'h3s', password: process.env.BENCH_H3_PASSWORD! })
}
