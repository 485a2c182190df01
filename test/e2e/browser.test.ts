import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setup, url } from '@nuxt/test-utils/e2e'
import type { Browser, BrowserContext, Cookie, Page } from 'playwright-core'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// A real browser against the playground's production build: the cookie jar, the redirects
// after a form post and the server-rendered pages are the browser's own, not a test client's.
const CHROMIUM = '/usr/bin/chromium'
const hasChromium = existsSync(CHROMIUM)
if (!hasChromium) console.warn(`[browser.test] skipped: no Chromium at ${CHROMIUM} (Debian: apt-get install -y chromium)`)

const SECRET = 'browser-e2e-secret-0123456789-0123456789'
const COOKIE = '__Host-sid'
/** Every wait in a step is bounded by this; vitest's own timeout bounds the step. */
const WAIT = 10_000

describe.skipIf(!hasChromium)('[nuxt-server-session] playground in Chromium (production build)', async () => {
  await setup({
    rootDir: fileURLToPath(new URL('../../playground', import.meta.url)),
    browser: false,
    env: { NUXT_SESSION_SECRET: SECRET },
  })

  let browser: Browser
  let context: BrowserContext
  let page: Page
  let base: string

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
      timeout: 30_000,
    })
    context = await browser.newContext()
    context.setDefaultTimeout(WAIT)
    context.setDefaultNavigationTimeout(WAIT)
    page = await context.newPage()
    base = url('/').replace(/\/$/, '')
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
  })

  const goto = async (path: string) => {
    await page.goto(base + path)
    // Clicks before hydration would land on inert server-rendered markup.
    await page.waitForFunction(() => (window as any).useNuxtApp?.().isHydrating === false, undefined, { timeout: WAIT })
  }
  const path = () => new URL(page.url()).pathname
  const sessionCookies = async (): Promise<Cookie[]> => (await context.cookies(base)).filter(c => c.name.endsWith('sid'))
  const visits = () => page.getByTestId('visits')

  // One visitor's story, step by step: each step starts where the previous one ended.
  let anonymousId: string

  it('counts visits with the button, and a reload renders the count on the server', async () => {
    await goto('/')
    await expect.poll(() => visits().textContent(), { timeout: WAIT }).toBe('0')
    expect(await sessionCookies()).toEqual([])

    await page.getByTestId('visit').click()
    await expect.poll(() => visits().textContent(), { timeout: WAIT }).toBe('1')
    await page.getByTestId('visit').click()
    await expect.poll(() => visits().textContent(), { timeout: WAIT }).toBe('2')

    // The server-rendered HTML already holds the count: useFetch forwarded the cookie.
    const response = await page.reload()
    expect(await response!.text()).toMatch(/data-testid="visits">2</)
    await expect.poll(() => visits().textContent(), { timeout: WAIT }).toBe('2')

    const [cookie] = await sessionCookies()
    expect(cookie?.name).toBe(COOKIE)
    anonymousId = cookie!.value
  })

  it('the account page (the signed-in guard) sends a visitor who is not signed in to /login, with ?redirect= back', async () => {
    await goto('/account')
    expect(path()).toBe('/login')
    expect(new URL(page.url()).searchParams.get('redirect')).toBe('/account')
    expect(await page.getByTestId('header-guest').textContent()).toBe('guest')
  })

  it('signing in with the plain form lands on /account, under a new session id', async () => {
    await page.getByLabel('Name').fill('  Ada Lovelace ')
    await Promise.all([
      page.waitForURL(u => u.pathname === '/account', { timeout: WAIT }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ])
    await expect.poll(() => page.getByTestId('user').textContent(), { timeout: WAIT }).toMatch(/Signed in as\s*Ada Lovelace\s*$/)
    // regenerate() kept the data and moved it to a new id.
    expect(await page.textContent('main')).toContain('Visits counted in this session: 2')
    const [cookie] = await sessionCookies()
    expect(cookie?.value).toBeTruthy()
    expect(cookie!.value).not.toBe(anonymousId)
    // The header's <SessionState> shows the user, from the page rendered after the redirect.
    expect(await page.getByTestId('header-user').textContent()).toContain('Ada Lovelace')
  })

  it('the login page (the guest guard) sends a signed-in visitor on: to a ?redirect= of this site, home for any other', async () => {
    for (const hostile of ['//evil.example', 'https://evil.example', '/\\evil.example', '%2F%2Fevil.example', '/%5Cevil.example', '/..//evil.example', 'javascript:alert(1)']) {
      await goto(`/login?redirect=${encodeURIComponent(hostile)}`)
      expect(new URL(page.url()).origin, hostile).toBe(base)
      expect(path(), hostile).toBe('/')
    }
    await goto(`/login?redirect=${encodeURIComponent('/devices')}`)
    expect(path()).toBe('/devices')
    // The server's own redirect after the form post is checked the same way.
    const res = await fetch(`${base}/api/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=Eve&redirect=%2F%2Fevil.example' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/account')
    await goto('/account') // where the next step starts
  })

  it('the browser keeps exactly one session cookie: __Host-, HttpOnly, Secure, SameSite=Lax, host-only, at most 7 days', async () => {
    const all = await context.cookies()
    expect(all.map(c => c.name)).toEqual([COOKIE])
    const [cookie] = all
    expect(cookie).toMatchObject({ name: COOKIE, httpOnly: true, secure: true, sameSite: 'Lax', path: '/' })
    expect(cookie!.domain.startsWith('.')).toBe(false)
    expect(cookie!.domain).toBe(new URL(base).hostname)
    const now = Date.now() / 1000
    expect(cookie!.expires).toBeGreaterThan(now + 6 * 86_400)
    expect(cookie!.expires).toBeLessThanOrEqual(now + 7 * 86_400 + 5)
    // HttpOnly: scripts in the page cannot read it.
    expect(await page.evaluate(() => document.cookie)).not.toContain('sid')
  })

  it('signing out lands on /, forgets the cookie, and the account page is protected again', async () => {
    const [old] = await sessionCookies()
    await Promise.all([
      page.waitForURL(u => u.pathname === '/', { timeout: WAIT }),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ])
    expect(await sessionCookies()).toEqual([])
    await goto('/account')
    expect(path()).toBe('/login')

    // The destroyed id is dead on the server too: putting the old cookie back does not sign in.
    await context.addCookies([old!])
    await goto('/account')
    expect(path()).toBe('/login')
  })

  it('a blank name is refused with a 400 and a clear message', async () => {
    await goto('/login')
    // Spaces pass the input's `required`; the server trims and refuses them.
    await page.getByLabel('Name').fill('   ')
    const [response] = await Promise.all([
      page.waitForResponse(r => r.url().endsWith('/api/login'), { timeout: WAIT }),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ])
    expect(response.status()).toBe(400)
    await page.waitForLoadState('load', { timeout: WAIT })
    expect(await page.textContent('body')).toContain('The name must be 1 to 40 characters long.')
  })

  it('"Your devices": two browsers signed in as one user; the first signs the second out from the page', async () => {
    // Each context is a device with its own cookie jar and user agent (the device label).
    const devices: { context: BrowserContext, page: Page, ua: string }[] = []
    const open = async (ua: string) => {
      const c = await browser.newContext({ userAgent: ua })
      c.setDefaultTimeout(WAIT)
      c.setDefaultNavigationTimeout(WAIT)
      const device = { context: c, page: await c.newPage(), ua }
      devices.push(device)
      return device
    }
    const visit = async (p: Page, to: string) => {
      await p.goto(base + to)
      await p.waitForFunction(() => (window as any).useNuxtApp?.().isHydrating === false, undefined, { timeout: WAIT })
    }
    const signIn = async (p: Page, name: string) => {
      await visit(p, '/login')
      await p.getByLabel('Name').fill(name)
      await Promise.all([
        p.waitForURL(u => u.pathname === '/account', { timeout: WAIT }),
        p.getByRole('button', { name: 'Sign in' }).click(),
      ])
    }
    const rows = (p: Page) => p.getByTestId('device')
    // A user of its own: the playground's store (files under .data) outlives a test run.
    const user = `Grace ${process.pid}-${Date.now().toString(36)}`
    try {
      const first = await open('Mozilla/5.0 (First device) Chromium')
      const second = await open('Mozilla/5.0 (Second device) Chromium')
      await signIn(first.page, user)
      await signIn(second.page, user)
      // The second browser keeps the live page open: a WebSocket that lives as long as its session.
      await visit(second.page, '/live')
      const live = () => second.page.getByTestId('live-status').textContent()
      await expect.poll(live, { timeout: WAIT }).toBe('open')
      await expect.poll(() => second.page.getByTestId('live-lines').textContent(), { timeout: WAIT }).toContain(`Connected as ${user}`)

      // From the account page to "Your devices".
      await Promise.all([
        first.page.waitForURL(u => u.pathname === '/devices', { timeout: WAIT }),
        first.page.getByRole('link', { name: 'Your devices' }).click(),
      ])
      await expect.poll(() => rows(first.page).count(), { timeout: WAIT }).toBe(2)
      expect(await first.page.getByTestId('this-device').count()).toBe(1)
      const current = first.page.locator('[data-testid="device"][data-current="yes"]')
      expect(await current.textContent()).toContain(first.ua)
      expect(await current.textContent()).toContain('This device')
      const other = first.page.locator('[data-testid="device"][data-current="no"]')
      expect(await other.textContent()).toContain(second.ua)
      expect(await other.textContent()).toMatch(/Created \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC · last seen \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/)
      // The current device has no "Sign out" button of its own on this page.
      expect(await current.getByRole('button').count()).toBe(0)

      const [revoked] = await Promise.all([
        first.page.waitForResponse(r => r.url().endsWith('/api/devices/revoke'), { timeout: WAIT }),
        other.getByRole('button', { name: 'Sign out', exact: true }).click(),
      ])
      expect(revoked.status()).toBe(303)
      // Its socket closed at once, with nothing done in that browser.
      await expect.poll(live, { timeout: WAIT }).toBe('closed (4001 Session ended)')

      // The second browser is signed out on its very next request.
      await visit(second.page, '/account')
      expect(new URL(second.page.url()).pathname).toBe('/login')

      await visit(first.page, '/devices')
      await expect.poll(() => rows(first.page).count(), { timeout: WAIT }).toBe(1)
      expect(await first.page.getByTestId('this-device').count()).toBe(1)
      expect(await first.page.textContent('main')).toContain('No other device is signed in.')

      // "Sign out everywhere else" with a third browser signed in.
      const third = await open('Mozilla/5.0 (Third device) Chromium')
      await signIn(third.page, user)
      await visit(first.page, '/devices')
      await expect.poll(() => rows(first.page).count(), { timeout: WAIT }).toBe(2)
      const [everywhere] = await Promise.all([
        first.page.waitForResponse(r => r.url().endsWith('/api/devices/revoke-others'), { timeout: WAIT }),
        first.page.getByRole('button', { name: 'Sign out everywhere else' }).click(),
      ])
      expect(everywhere.status()).toBe(303)
      await visit(third.page, '/account')
      expect(new URL(third.page.url()).pathname).toBe('/login')
      await visit(first.page, '/devices')
      await expect.poll(() => rows(first.page).count(), { timeout: WAIT }).toBe(1)
      await visit(first.page, '/account')
      expect(new URL(first.page.url()).pathname).toBe('/account')
    }
    finally {
      await Promise.all(devices.map(d => d.context.close()))
    }
  }, 60_000)

  it('"Your devices" sends a visitor who is not signed in to /login', async () => {
    await goto('/devices')
    expect(path()).toBe('/login')
  })
})
