/**
 * Whether a browser's request comes from this site: an `Origin` the app allows, else the
 * browser's own `Sec-Fetch-Site` (same-origin, or none for what the user did), else an `Origin`
 * of this host. A request with neither header is not a browser's cross-site one. Used where a
 * cookie alone must not be enough: the pages' sign-out and WebSocket upgrades.
 */
export function fromThisSite(header: (name: string) => string | null | undefined, allowedOrigins?: ReadonlySet<string>): boolean {
  const origin = header('origin')
  if (origin && allowedOrigins?.has(origin)) return true
  const site = header('sec-fetch-site')
  if (site) return site === 'same-origin' || site === 'none'
  if (!origin) return true
  try {
    return new URL(origin).host === header('host')
  }
  catch {
    return false
  }
}
