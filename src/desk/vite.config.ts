import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// The agents' desk: built into dist/desk and served by the app at /desk (src/routes/desk.ts).
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

export default defineConfig({
  root: here('.'),
  base: '/desk/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: here('../../dist/desk'), emptyOutDir: true, sourcemap: true }
})
