import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vite';

// The package build (npm run build:lib): src/otp/index.ts as one ES module, with React, the
// PostgREST client and input-otp left to the application's own install, and the overlay's
// stylesheet as dist/style.css. Declarations come from tsc (tsconfig.lib.json) into dist/ too.
const external = [/^react($|\/)/, /^react-dom($|\/)/, /^@supabase\/postgrest-js($|\/)/, /^input-otp($|\/)/];

// The components import no CSS (an application imports the stylesheet once, and the
// declarations stay free of CSS imports), so the stylesheet is shipped as it is written.
function stylesheet(): Plugin {
  return {
    name: 'sms-otp-stylesheet',
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'style.css', source: readFileSync(new URL('src/otp/otp.css', import.meta.url), 'utf8') });
    },
  };
}

export default defineConfig({
  plugins: [stylesheet()],
  esbuild: { jsx: 'automatic' },
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // Applications minify their own bundles; readable code is easier to debug there.
    minify: false,
    lib: {
      entry: 'src/otp/index.ts',
      formats: ['es'],
      fileName: 'index',
    },
    rollupOptions: {
      external: (id) => external.some((pattern) => pattern.test(id)),
    },
  },
});
