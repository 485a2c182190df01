/**
 * The services the tests talk to, as the test run's global setup configured them. Tests take
 * every address from here, never a fixed port, so that a run can bring its own private servers.
 */

/** The Redis of this test run: `NSS_TEST_REDIS_URL` (set by the global setup), a loopback URL. */
export function redisAddress(): { host: string, port: number, url: string } {
  const url = process.env.NSS_TEST_REDIS_URL || 'redis://127.0.0.1:6379'
  const parsed = new URL(url)
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || 6379), url }
}

/**
 * The PostgreSQL of this test run: `NSS_TEST_POSTGRES_URL` (set by the global setup to its
 * private server), a loopback URL of a role that may create schemas and databases.
 */
export function postgresAddress(): { host: string, port: number, url: string } {
  const url = process.env.NSS_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
  const parsed = new URL(url)
  return { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || 5432), url }
}
