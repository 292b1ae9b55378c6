import { defineConfig } from 'vitest/config';

// No React plugin: esbuild compiles TSX with the automatic runtime, which is all the overlay
// and the demo need (no fast refresh in `vite` dev mode).
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  build: {
    // dist/ is the package's (vite.lib.config.ts); the demo app builds beside it.
    outDir: 'dist-demo',
    sourcemap: true,
    rollupOptions: {
      onwarn(warning, warn) {
        // react-router marks its modules "use client" (for React Server Components); a
        // client-only bundle has nothing to do with it.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./test/setup.ts'],
    include: ['test/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
