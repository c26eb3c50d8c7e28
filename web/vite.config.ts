import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `base: './'`: the built files refer to each other relatively, and `lectern serve` gives
// index.html a <base href> of LECTERN_PUBLIC_URL's path, so the console works behind a prefix.
export default defineConfig({
  base: './',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    // hls.js (about 580 kB, 175 kB gzipped) is its own chunk, loaded only with a player.
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npm run dev` against a local `lectern serve`.
    proxy: { '/v1': 'http://127.0.0.1:8080', '/play': 'http://127.0.0.1:8080', '/cdn': 'http://127.0.0.1:8080' },
  },
});
