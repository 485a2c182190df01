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

  it('the account page sends a visitor who is not signed in to /login', async () => {
    await goto('/account')
    expect(path()).toBe('/login')
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
})
