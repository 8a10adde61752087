// The admin web app: Preact + uPlot, built into ui/dist and served by Switchyard at /ui.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // No inlined data: URLs for scripts; every file is served, hashed, by Switchyard.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 300,
  },
});
