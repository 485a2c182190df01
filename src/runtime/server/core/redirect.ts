/**
 * A `redirect` target that stays on this site: a path (with its query and hash), or
 * `undefined` for anything that could leave it: another origin (`https://evil.example`), a
 * protocol-relative URL (`//evil.example`, also after normalisation: `/..//evil.example`), a
 * backslash (`/\evil.example`, which browsers read as a slash), control characters, or any of
 * these percent-encoded (decoded up to three times). Used by the pages' guards and for the
 * servers' own `redirect` query values alike.
 */
export function safeRedirect(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return undefined
  let decoded = value
  for (let round = 0; round < 3; round++) {
    let next: string
    try {
      next = decodeURIComponent(decoded)
    }
    catch {
      return undefined
    }
    if (next === decoded) break
    decoded = next
  }
  // eslint-disable-next-line no-control-regex
  if (!decoded.startsWith('/') || decoded.startsWith('//') || /[\\\u0000-\u001F\u007F]/.test(decoded)) return undefined
  const base = 'http://site.invalid'
  let url: URL
  try {
    url = new URL(value, base)
  }
  catch {
    return undefined
  }
  if (url.origin !== base || url.pathname.startsWith('//')) return undefined
  return `${url.pathname}${url.search}${url.hash}`
}
