import { defineNitroConfig } from 'nitropack/config'

// A plain Nitro app without our module. Its bare routes (/api/lazy, /api/read, /api/write) are
// the baseline of the Nitro targets; /api/h3/* use h3's built-in sealed-cookie `useSession`,
// /api/scayle/* use @scayle/h3-session on unstorage's redis driver (address from BENCH_REDIS_URL
// at run time).
export default defineNitroConfig({
  // Build files out of the source tree (Nitro's default is ./.nitro).
  buildDir: 'node_modules/.nitro',
  compatibilityDate: '2025-07-01',
})
