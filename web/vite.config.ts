import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

/** The console builds into dist/console, which `orgsync serve` serves at `/`. `npm run dev:console` proxies the API. */
export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: process.env.ORGSYNC_URL ?? 'http://127.0.0.1:8080', changeOrigin: false },
      '/healthz': { target: process.env.ORGSYNC_URL ?? 'http://127.0.0.1:8080' },
    },
  },
});
