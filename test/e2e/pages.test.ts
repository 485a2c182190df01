import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setup, url } from '@nuxt/test-utils/e2e'
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core'
import { chromium } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Client } from '../support/server'

// The session in pages (useSessionState, <SessionState>) through its public surface, in a real
// browser where a person would use one: what the server renders into the page, how the state
// follows requests and tabs without a reload, the sign-out route, and the shared pages (cached,
// prerendered) that must never hold a visitor's state. Fixture: test/fixtures/pages.
const CHROMIUM = '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) console.warn(`[pages.test] skipped: no Chromium at ${CHROMIUM} (Debian: apt-get install -y chromium)`)

const SECRET = 'pages-e2e-secret-0123456789-0123456789-0123'
const COOKIE = '__Host-sid'
const ROUTE = '/api/_session'
/** Every wait in a step is bounded by this; vitest's own timeout bounds the step. */
const WAIT = 10_000
const STEP = 30_000

interface Visitor { userId: string, name: string, theme: string, secretNote: string }

/** A visitor of its own per test: the fixture's store (SQLite under .data) outlives a run. */
function visitor(first: string): Visitor {
  const tag = randomBytes(4).toString('hex')
  return { userId: `uid-${tag}-${first.toLowerCase()}`, name: `${first} Q${tag}`, theme: `theme-${tag}`, secretNote: `secret-note-${tag}` }
}
/** What the fixture's `session:public` hook derives from the name. */
const initialsOf = (name: string) => name.trim().split(/\s+/).map(w => w[0]!.toUpperCase()).join('')
/** The public state the pages should see for a signed-in visitor. */
const stateOf = (v: Pick<Visitor, 'name' | 'theme'>) => ({ loggedIn: true, data: { name: v.name, theme: v.theme, initials: initialsOf(v.name) } })
const GUEST = { loggedIn: false, data: {} }
/** The id part of the signed cookie value (`<id>.<signature>`). */
const idOf = (cookieValue: string) => decodeURIComponent(cookieValue).split('.')[0]!

describe.skipIf(!hasChromium)('[nuxt-server-session] the session in pages, in Chromium (production build)', async () => {
  await setup({
    rootDir: fileURLToPath(new URL('../fixtures/pages', import.meta.url)),
    browser: false,
    env: { NUXT_SESSION_SECRET: SECRET },
  })

  let browser: Browser
  let base: string
  const opened: BrowserContext[] = []

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      timeout: 30_000,
    })
    base = url('/').replace(/\/$/, '')
  }, 60_000)

  afterEach(async () => {
    await Promise.all(opened.splice(0).map(c => c.close()))
  })

  afterAll(async () => {
    await browser?.close()
  })

  /** A fresh browser context: another person's browser, with its own cookie jar and tabs. */
  const newContext = async (options: BrowserContextOptions = {}) => {
    const context = await browser.newContext(options)
    context.setDefaultTimeout(WAIT)
    context.setDefaultNavigationTimeout(WAIT)
    opened.push(context)
    return context
  }
  const hydrated = (page: Page) =>
    page.waitForFunction(() => (window as any).useNuxtApp?.().isHydrating === false, undefined, { timeout: WAIT })
  /** A tab at `path`, hydrated (clicks before would land on inert server-rendered markup). */
  const openTab = async (context: BrowserContext, path = '/') => {
    const page = await context.newPage()
    await page.goto(base + path)
    await hydrated(page)
    return page
  }
  /** The requests the page makes to the state route (method per request), from now on. */
  const stateRequests = (page: Page) => {
    const seen: string[] = []
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === ROUTE) seen.push(request.method())
    })
    return seen
  }
  const text = async (page: Page, testId: string) => ((await page.getByTestId(testId).textContent()) ?? '').trim()
  /** What the home page shows, as a person reads it. */
  const shown = async (page: Page) => ({
    loggedIn: await text(page, 'logged-in'),
    name: await text(page, 'name'),
    theme: await text(page, 'theme'),
    initials: await text(page, 'initials'),
  })
  const showsUser = (v: Pick<Visitor, 'name' | 'theme'>) => ({ loggedIn: 'yes', name: v.name, theme: v.theme, initials: initialsOf(v.name) })
  const SHOWS_GUEST = { loggedIn: 'no', name: '', theme: '', initials: '' }
  const follows = (page: Page, expected: Record<string, string>) => expect.poll(() => shown(page), { timeout: WAIT }).toEqual(expected)
  /** The state the page holds (the `useState` the server rendered into the payload, or loaded since). */
  const pageState = (page: Page) => page.evaluate(() => (window as any).useNuxtApp().payload.state['$snuxt-server-session'])
  /** Marks the document: a reload or navigation would lose the mark. */
  const mark = (page: Page) => page.evaluate(() => {
    (window as any).__sameDocument = true
  })
  const sameDocument = (page: Page) => page.evaluate(() => (window as any).__sameDocument === true)
  /**
   * Acts in `page` as the tab in front: a person clicks in the tab they look at (and Chromium
   * throttles the animation frames of background tabs, which Playwright's clicks wait for).
   */
  const click = async (page: Page, testId: string) => {
    await page.bringToFront()
    await page.getByTestId(testId).click()
  }
  /** Signs in with the home page's button (a `$fetch` POST), as a person would. */
  const signIn = async (page: Page, v: Visitor) => {
    await page.bringToFront()
    await page.getByTestId('in-user-id').fill(v.userId)
    await page.getByTestId('in-name').fill(v.name)
    await page.getByTestId('in-theme').fill(v.theme)
    await page.getByTestId('in-secret').fill(v.secretNote)
    const [response] = await Promise.all([
      page.waitForResponse(r => new URL(r.url()).pathname === '/api/sign-in', { timeout: WAIT }),
      page.getByTestId('sign-in').click(),
    ])
    expect(response.status()).toBe(200)
  }
  const sessionCookie = async (context: BrowserContext) => (await context.cookies(base)).find(c => c.name === COOKIE)
  /** A plain HTTP client holding the browser's session cookie. */
  const clientOf = async (context: BrowserContext) => {
    const client = new Client(base)
    const cookie = await sessionCookie(context)
    if (cookie) client.jar.set(cookie.name, cookie.value)
    return client
  }
  const clientSignIn = async (v: Visitor) => {
    const client = new Client(base)
    const res = await client.fetch('/api/sign-in', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) })
    expect(res.status).toBe(200)
    expect(client.jar.get(COOKIE)).toBeTruthy()
    return client
  }

  describe('a. exposure: only loggedIn, the exposed keys and the derived value leave the server', () => {
    it('the signed-in page\'s HTML and payload hold name, theme, initials and loggedIn; never secretNote, the id or userId', async () => {
      const context = await newContext()
      const page = await openTab(context)
      const ada = visitor('Ada')
      await signIn(page, ada)
      await follows(page, showsUser(ada))
      const cookie = (await sessionCookie(context))!
      const id = idOf(cookie.value)
      expect(id.length).toBeGreaterThanOrEqual(16)

      const response = (await page.reload())!
      const html = await response.text()
      await hydrated(page)
      // The server rendered the state into the markup...
      expect(html).toMatch(/data-testid="logged-in"[^>]*>\s*yes\s*</)
      expect(html).toMatch(new RegExp(`data-testid="name"[^>]*>\\s*${ada.name}\\s*<`))
      expect(html).toMatch(new RegExp(`data-testid="theme"[^>]*>\\s*${ada.theme}\\s*<`))
      expect(html).toMatch(new RegExp(`data-testid="initials"[^>]*>\\s*${initialsOf(ada.name)}\\s*<`))
      // ...and into the payload, exactly: the exposed keys, the derived one, loggedIn.
      const payload = html.match(/<script type="application\/json"[^>]*id="__NUXT_DATA__"[^>]*>([^<]*)<\/script>/)?.[1]
      expect(payload).toBeTruthy()
      for (const value of [ada.name, ada.theme, initialsOf(ada.name), 'loggedIn']) expect(payload).toContain(value)
      expect(await pageState(page)).toEqual(stateOf(ada))
      // Nothing else of the session is anywhere in the page.
      for (const secret of [ada.secretNote, 'secretNote', id, cookie.value, decodeURIComponent(cookie.value), ada.userId]) {
        expect(html).not.toContain(secret)
      }

      // The state route answers the same, and is never stored by a cache.
      const client = await clientOf(context)
      const res = await client.fetch(ROUTE)
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('private, no-store')
      const body = await res.text()
      expect(JSON.parse(body)).toEqual(stateOf(ada))
      for (const secret of [ada.secretNote, 'secretNote', id, ada.userId]) expect(body).not.toContain(secret)
      // The server does keep them: they were not exposed, not lost.
      expect(await client.json('/api/whoami')).toEqual({ userId: ada.userId, data: { name: ada.name, theme: ada.theme, secretNote: ada.secretNote } })
    }, STEP)

    it('GET of the state route for a visitor without a session: loggedIn false, no cookie, never cached', async () => {
      const res = await new Client(base).fetch(ROUTE)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual(GUEST)
      expect(res.headers.getSetCookie()).toEqual([])
      expect(res.headers.get('cache-control')).toBe('private, no-store')
    })

    it('a page rendered with a visitor\'s session state is private (no-store, Vary: Cookie); a guest\'s page varies on the cookie and stays cacheable', async () => {
      const ada = visitor('Ada')
      const client = await clientSignIn(ada)
      const res = await client.fetch('/')
      expect(await res.text()).toContain(ada.name)
      const cacheControl = res.headers.get('cache-control') ?? ''
      const vary = res.headers.get('vary') ?? ''
      expect(cacheControl).toBe('private, no-store')
      expect(vary).toMatch(/\bcookie\b/i)
      // A guest's page (no session) is every guest's: it varies on the cookie, so that a cache
      // never serves it to a visitor who has one, and stays cacheable for guests.
      const guest = await new Client(base).fetch('/')
      expect(guest.headers.get('vary') ?? '', `vary: ${guest.headers.get('vary') ?? '(none)'}`).toMatch(/\bcookie\b/i)
      expect(guest.headers.get('cache-control') ?? '').not.toMatch(/private|no-store/)
    })
  })

  describe('b. hydration', () => {
    it('a signed-in page hydrates from the rendered state: no request to the state route, and the state is in the HTML before any JavaScript', async () => {
      const context = await newContext()
      const first = await openTab(context)
      const ada = visitor('Ada')
      await signIn(first, ada)
      await follows(first, showsUser(ada))
      await first.close()

      // A new tab (nothing else open that could talk to it) loads the signed-in page.
      const page = await context.newPage()
      const requests = stateRequests(page)
      const response = (await page.goto(base + '/'))!
      await hydrated(page)
      await page.waitForLoadState('networkidle', { timeout: WAIT })
      expect(await shown(page)).toEqual(showsUser(ada))
      expect(requests).toEqual([])
      // The document the server sent already showed it.
      expect(await response.text()).toMatch(new RegExp(`data-testid="name"[^>]*>\\s*${ada.name}\\s*<`))

      // The same cookie in a browser that runs no JavaScript at all.
      const noScript = await newContext({ javaScriptEnabled: false })
      await noScript.addCookies([(await sessionCookie(context))!])
      const plain = await noScript.newPage()
      await plain.goto(base + '/')
      expect(await shown(plain)).toEqual(showsUser(ada))
    }, STEP)
  })

  describe('c. the state follows the requests of the page, without a reload', () => {
    it('after a $fetch sign-in, a $fetch and a useFetch theme change; a change of a key not exposed changes nothing visible', async () => {
      const context = await newContext()
      const page = await openTab(context)
      expect(await shown(page)).toEqual(SHOWS_GUEST)
      expect(await pageState(page)).toEqual(GUEST)
      await mark(page)

      // A guest's first write creates the session: the exposed key shows, still not signed in.
      await page.getByTestId('in-next-theme').fill('sepia')
      await page.getByTestId('set-theme').click()
      await follows(page, { ...SHOWS_GUEST, theme: 'sepia' })

      const ada = visitor('Ada')
      await signIn(page, ada)
      await follows(page, showsUser(ada))

      await page.getByTestId('in-next-theme').fill('dark')
      const [byFetch] = await Promise.all([
        page.waitForResponse(r => new URL(r.url()).pathname === '/api/theme', { timeout: WAIT }),
        page.getByTestId('set-theme').click(),
      ])
      expect(byFetch.headers()['x-session-changed']).toBe('1')
      await follows(page, showsUser({ ...ada, theme: 'dark' }))

      await page.getByTestId('in-next-theme').fill('ocean')
      await page.getByTestId('set-theme-use-fetch').click()
      await follows(page, showsUser({ ...ada, theme: 'ocean' }))

      // The note is not exposed: the page refreshes (the session changed) and shows the same.
      const before = { text: await page.locator('main').textContent(), state: await pageState(page) }
      expect(before.state).toEqual(stateOf({ ...ada, theme: 'ocean' }))
      await page.getByTestId('in-note').fill('another-secret-note')
      const [noted, reloaded] = await Promise.all([
        page.waitForResponse(r => new URL(r.url()).pathname === '/api/note', { timeout: WAIT }),
        page.waitForResponse(r => new URL(r.url()).pathname === ROUTE && r.request().method() === 'GET', { timeout: WAIT }),
        page.getByTestId('set-note').click(),
      ])
      expect(noted.status()).toBe(200)
      expect(await reloaded.text()).not.toContain('another-secret-note')
      await page.waitForLoadState('networkidle', { timeout: WAIT })
      expect({ text: await page.locator('main').textContent(), state: await pageState(page) }).toEqual(before)
      expect(await page.content()).not.toContain('another-secret-note')
      expect(await (await clientOf(context)).json('/api/whoami')).toMatchObject({ data: { secretNote: 'another-secret-note', theme: 'ocean' } })

      // The app's own sign-out route (destroy()) is followed too.
      await page.getByTestId('app-sign-out').click()
      await follows(page, SHOWS_GUEST)
      expect(await sessionCookie(context)).toBeUndefined()

      // All of it in the one document the browser loaded first.
      expect(await sameDocument(page)).toBe(true)
    }, STEP)

    it('a $fetch to a route that changes the session and answers with a redirect (fetch follows it): the state follows', async () => {
      const context = await newContext()
      const page = await openTab(context)
      const ada = visitor('Ada')
      await page.getByTestId('in-user-id').fill(ada.userId)
      await page.getByTestId('in-name').fill(ada.name)
      await page.getByTestId('in-theme').fill(ada.theme)
      await page.getByTestId('in-secret').fill(ada.secretNote)
      const [posted] = await Promise.all([
        page.waitForResponse(r => new URL(r.url()).pathname === '/api/form-sign-in', { timeout: WAIT }),
        page.getByTestId('sign-in-redirect').click(),
      ])
      expect(posted.status()).toBe(303)
      expect(await (await clientOf(context)).json(ROUTE)).toEqual(stateOf(ada))
      await follows(page, showsUser(ada))
    }, STEP)

    it('a change made while the page renders on the server (an internal useFetch) is the state the page shows', async () => {
      const context = await newContext()
      const home = await openTab(context)
      const ada = visitor('Ada')
      await signIn(home, ada)
      await follows(home, showsUser(ada))
      await home.close()

      const page = await openTab(context, '/ssr-theme?theme=night')
      expect(await text(page, 'set-to')).toBe('night')
      expect(await (await clientOf(context)).json(ROUTE)).toEqual(stateOf({ ...ada, theme: 'night' }))
      await expect.poll(() => text(page, 'theme'), { timeout: WAIT }).toBe('night')
    }, STEP)

    it('after a sign-in by a plain form post and its 303, the page it lands on shows the state', async () => {
      const context = await newContext()
      const page = await openTab(context, '/form')
      const ada = visitor('Ada')
      await page.getByTestId('form-user-id').fill(ada.userId)
      await page.getByTestId('form-name').fill(ada.name)
      await page.getByTestId('form-theme').fill(ada.theme)
      await page.getByTestId('form-secret').fill(ada.secretNote)
      const [posted] = await Promise.all([
        page.waitForResponse(r => new URL(r.url()).pathname === '/api/form-sign-in', { timeout: WAIT }),
        page.waitForURL(u => u.pathname === '/', { timeout: WAIT }),
        page.getByTestId('form-submit').click(),
      ])
      expect(posted.status()).toBe(303)
      await hydrated(page)
      expect(await shown(page)).toEqual(showsUser(ada))
      expect(await pageState(page)).toEqual(stateOf(ada))
    }, STEP)
  })

  describe('d. tabs', () => {
    it('a second tab of the same browser follows a sign-in, a theme change and a sign-out made in the first; another browser does not', async () => {
      const context = await newContext()
      const first = await openTab(context)
      const second = await openTab(context)
      const elsewhere = await openTab(await newContext())
      const elsewhereRequests = stateRequests(elsewhere)
      for (const tab of [second, elsewhere]) await mark(tab)

      const ada = visitor('Ada')
      await signIn(first, ada)
      await follows(first, showsUser(ada))
      await follows(second, showsUser(ada))

      await first.getByTestId('in-next-theme').fill('dark')
      await click(first, 'set-theme')
      await follows(first, showsUser({ ...ada, theme: 'dark' }))
      await follows(second, showsUser({ ...ada, theme: 'dark' }))

      await click(first, 'sign-out')
      await follows(first, SHOWS_GUEST)
      await follows(second, SHOWS_GUEST)

      // The second tab did it in the document it first loaded.
      expect(await sameDocument(second)).toBe(true)
      // The other browser heard nothing, loaded nothing, showed nothing of it.
      expect(await shown(elsewhere)).toEqual(SHOWS_GUEST)
      expect(elsewhereRequests).toEqual([])
      expect(await sameDocument(elsewhere)).toBe(true)
    }, STEP)

    it('a sign-in by form post in one tab (a navigation) is followed by the other tab; another browser, signed in as someone else, keeps its own', async () => {
      const other = await newContext()
      const grace = visitor('Grace')
      const elsewhere = await openTab(other)
      await signIn(elsewhere, grace)
      await follows(elsewhere, showsUser(grace))

      const context = await newContext()
      const first = await openTab(context)
      await mark(first)
      const second = await openTab(context, '/form')
      const ada = visitor('Ada')
      await second.getByTestId('form-user-id').fill(ada.userId)
      await second.getByTestId('form-name').fill(ada.name)
      await second.getByTestId('form-theme').fill(ada.theme)
      await second.getByTestId('form-secret').fill(ada.secretNote)
      await Promise.all([
        second.waitForURL(u => u.pathname === '/', { timeout: WAIT }),
        second.getByTestId('form-submit').click(),
      ])
      await hydrated(second)
      expect(await shown(second)).toEqual(showsUser(ada))
      // The page the redirect rendered told the first tab, which loaded the state itself.
      await follows(first, showsUser(ada))
      expect(await sameDocument(first)).toBe(true)

      await second.getByTestId('in-next-theme').fill('dark')
      await second.getByTestId('set-theme').click()
      await follows(first, showsUser({ ...ada, theme: 'dark' }))
      expect(await shown(elsewhere)).toEqual(showsUser(grace))
      await elsewhere.reload()
      await hydrated(elsewhere)
      expect(await shown(elsewhere)).toEqual(showsUser(grace))
    }, STEP)
  })

  describe('e. clear()', () => {
    it('signs out: the cookie is gone, the route says loggedIn false, the old id is dead, both tabs show the guest', async () => {
      const context = await newContext()
      const first = await openTab(context)
      const second = await openTab(context)
      const ada = visitor('Ada')
      await signIn(first, ada)
      await follows(first, showsUser(ada))
      await follows(second, showsUser(ada))
      const old = (await sessionCookie(context))!

      // From the tab that did not sign in.
      const [deleted] = await Promise.all([
        second.waitForResponse(r => new URL(r.url()).pathname === ROUTE && r.request().method() === 'DELETE', { timeout: WAIT }),
        second.getByTestId('sign-out').click(),
      ])
      expect(deleted.status()).toBe(200)
      expect(await deleted.json()).toEqual(GUEST)
      await follows(second, SHOWS_GUEST)
      await follows(first, SHOWS_GUEST)
      expect(await pageState(first)).toEqual(GUEST)

      expect(await sessionCookie(context)).toBeUndefined()
      expect(await first.evaluate(async route => (await fetch(route)).json(), ROUTE)).toEqual(GUEST)
      // The id the browser held is destroyed on the server too.
      const replay = new Client(base)
      replay.jar.set(COOKIE, old.value)
      expect(await replay.json(ROUTE)).toEqual(GUEST)
      expect(await replay.json('/api/whoami')).toEqual({ userId: null, data: {} })
      // A reload renders the guest.
      await first.reload()
      await hydrated(first)
      expect(await shown(first)).toEqual(SHOWS_GUEST)
    }, STEP)
  })

  describe('e2. clear() and a load of the state still in flight', () => {
    it('an answer of the state route that arrives after clear() does not bring the signed-in state back', async () => {
      const context = await newContext()
      const page = await openTab(context)
      const ada = visitor('Ada')
      await signIn(page, ada)
      await follows(page, showsUser(ada))

      // The next load of the state is answered by the server at once (signed in) but reaches
      // the page late, after the sign-out: a slow network.
      let release!: () => void
      const late = new Promise<void>((resolve) => {
        release = resolve
      })
      let held = false
      let answered = false
      await page.route(`**${ROUTE}`, async (route) => {
        if (route.request().method() !== 'GET' || held) return route.continue()
        held = true
        const response = await route.fetch()
        answered = true
        await late
        await route.fulfill({ response })
      })
      await page.getByTestId('in-next-theme').fill('dark')
      await page.getByTestId('set-theme').click()
      await expect.poll(() => answered, { timeout: WAIT }).toBe(true)

      const [deleted] = await Promise.all([
        page.waitForResponse(r => new URL(r.url()).pathname === ROUTE && r.request().method() === 'DELETE', { timeout: WAIT }),
        page.getByTestId('sign-out').click(),
      ])
      expect(deleted.status()).toBe(200)
      await follows(page, SHOWS_GUEST)

      const [arrived] = await Promise.all([
        page.waitForResponse(r => new URL(r.url()).pathname === ROUTE && r.request().method() === 'GET', { timeout: WAIT }),
        release(),
      ])
      expect((await arrived.json()).loggedIn).toBe(true)
      await page.waitForLoadState('networkidle', { timeout: WAIT })
      expect(await sessionCookie(context)).toBeUndefined()
      expect(await shown(page)).toEqual(SHOWS_GUEST)
    }, STEP)
  })

  describe('f. the sign-out route refuses other sites', () => {
    it('DELETE with Sec-Fetch-Site cross-site or same-site: 403, the session still works', async () => {
      const ada = visitor('Ada')
      const client = await clientSignIn(ada)
      const cookie = client.jar.get(COOKIE)
      for (const site of ['cross-site', 'same-site']) {
        const res = await client.fetch(ROUTE, { method: 'DELETE', headers: { 'sec-fetch-site': site } })
        expect(res.status, site).toBe(403)
        expect(res.headers.getSetCookie()).toEqual([])
        expect(res.headers.get('x-session-changed')).toBeNull()
      }
      // Nor by a POST (what a cross-site form could send).
      const posted = await client.fetch(ROUTE, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } })
      expect(posted.status).toBe(405)
      expect(client.jar.get(COOKIE)).toBe(cookie)
      expect(await client.json(ROUTE)).toEqual(stateOf(ada))
    })

    it('DELETE with an Origin of another host and no Sec-Fetch-Site: 403; with this host\'s Origin: 200', async () => {
      const ada = visitor('Ada')
      const client = await clientSignIn(ada)
      for (const origin of ['https://evil.example', 'null', `http://evil.example:${new URL(base).port}`]) {
        const res = await client.fetch(ROUTE, { method: 'DELETE', headers: { origin } })
        expect(res.status, origin).toBe(403)
      }
      expect(await client.json(ROUTE)).toEqual(stateOf(ada))

      const res = await client.fetch(ROUTE, { method: 'DELETE', headers: { origin: base } })
      expect(res.status).toBe(200)
      expect(await client.json(ROUTE)).toEqual(GUEST)
    })

    it('the page\'s own clear() (Sec-Fetch-Site same-origin): 200', async () => {
      const context = await newContext()
      const page = await openTab(context)
      const ada = visitor('Ada')
      await signIn(page, ada)
      await follows(page, showsUser(ada))
      const [deleted] = await Promise.all([
        page.waitForResponse(r => new URL(r.url()).pathname === ROUTE && r.request().method() === 'DELETE', { timeout: WAIT }),
        page.getByTestId('sign-out').click(),
      ])
      expect((await deleted.request().allHeaders())['sec-fetch-site']).toBe('same-origin')
      expect(deleted.status()).toBe(200)
      await follows(page, SHOWS_GUEST)
    }, STEP)
  })

  describe('g. shared pages: cached (routeRules swr) and prerendered', () => {
    for (const path of ['/cached', '/prerendered']) {
      it(`${path}: the HTML holds the placeholder, never a visitor's state; each browser shows its own after mount, with one request`, async () => {
        const ada = visitor('Ada')
        const grace = visitor('Grace')
        // A cache entry of its own (the query is part of Nitro's cache key), rendered first for Ada.
        const at = path === '/cached' ? `${path}?render=${randomBytes(4).toString('hex')}` : path
        const a = await clientSignIn(ada)
        const b = await clientSignIn(grace)
        const bodies: string[] = []
        for (const client of [a, new Client(base), b, a]) {
          const res = await client.fetch(at)
          expect(res.status).toBe(200)
          expect(res.headers.getSetCookie()).toEqual([])
          // Still shared: nothing of a visitor made the render private.
          expect(res.headers.get('cache-control') ?? '').not.toMatch(/private|no-store/)
          if (path === '/cached') expect(res.headers.get('cache-control')).toMatch(/s-maxage=600/)
          bodies.push(await res.text())
        }
        for (const html of bodies) {
          expect(html).toContain('data-testid="placeholder"')
          expect(html).not.toContain('data-testid="who"')
          for (const secret of [ada.name, ada.theme, grace.name, grace.theme]) expect(html).not.toContain(secret)
        }
        // The sessions were not touched by the shared render.
        expect(await a.json(ROUTE)).toEqual(stateOf(ada))

        // In the browser: Grace's own state once mounted, loaded with one request.
        const context = await newContext()
        const home = await openTab(context)
        await signIn(home, grace)
        await follows(home, showsUser(grace))
        await home.close()
        const page = await context.newPage()
        const requests = stateRequests(page)
        const response = (await page.goto(base + at))!
        expect(await response.text()).not.toContain(grace.name)
        await hydrated(page)
        await expect.poll(async () => page.getByTestId('who').count(), { timeout: WAIT }).toBe(1)
        expect(await text(page, 'who')).toBe(grace.name)
        expect(await text(page, 'theme')).toBe(grace.theme)
        expect(await page.getByTestId('placeholder').count()).toBe(0)
        await page.waitForLoadState('networkidle', { timeout: WAIT })
        expect(requests).toEqual(['GET'])
        expect(await page.content()).not.toContain(ada.name)

        // And a visitor without a session: the guest, after one request.
        const anonymous = await (await newContext()).newPage()
        const anonymousRequests = stateRequests(anonymous)
        await anonymous.goto(base + at)
        await hydrated(anonymous)
        await expect.poll(() => text(anonymous, 'who'), { timeout: WAIT }).toBe('guest')
        await anonymous.waitForLoadState('networkidle', { timeout: WAIT })
        expect(anonymousRequests).toEqual(['GET'])
      }, STEP)
    }
  })
})
