#!/usr/bin/env node
// A static HTTP server for a packaged asset directory (HLS/DASH manifests, CMAF segments,
// thumbnails), with what browser players need from an origin: correct media types, byte
// ranges, and CORS. It stands in for Lectern's local origin and for a CDN in player tests.
//
//   node tests/players/serve.mjs DIR [--port N] [--host 127.0.0.1] [--quiet]
//
// The first line on stdout is "serving DIR at http://HOST:PORT/", so scripts can start it with
// --port 0 and read the URL back. Requests are logged to stderr unless --quiet.

import { createReadStream } from 'node:fs';
import { stat, realpath } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Media types a player or a browser checks. HLS and DASH players mostly sniff content, but
// Safari and some smart TVs refuse a manifest served as text/plain or octet-stream.
export const MEDIA_TYPES = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mpd': 'application/dash+xml',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
  '.m4v': 'video/mp4',
  '.m4a': 'audio/mp4',
  '.cmfv': 'video/mp4',
  '.cmfa': 'audio/mp4',
  '.ts': 'video/mp2t',
  '.aac': 'audio/aac',
  '.vtt': 'text/vtt',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.json': 'application/json',
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export function mediaTypeFor(filePath) {
  return MEDIA_TYPES[path.extname(filePath).toLowerCase()] ?? 'application/octet-stream';
}

// Headers every response carries so that a player on another origin may read it. Range must be
// allowed explicitly (it is not a CORS-safelisted header), and Content-Range must be exposed for
// players that read byte ranges (DASH SegmentBase, HLS byte-range playlists).
const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, Content-Type',
  'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Accept-Ranges',
  'Access-Control-Max-Age': '600',
};

/**
 * Parses a Range header against a file size. Returns null to serve the whole file (no header,
 * a unit other than bytes, or several ranges, which the RFC lets a server ignore), a
 * {start, end} inclusive pair, or 'unsatisfiable'.
 */
export function parseRange(header, size) {
  if (!header) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, first, last] = match;
  if (first === '' && last === '') return null;
  let start;
  let end;
  if (first === '') {
    // A suffix range: the last N bytes.
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  }
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/** Creates (does not start) a server for the files under rootDir. */
export async function createStaticServer(rootDir, { log = () => {} } = {}) {
  const root = await realpath(rootDir);

  return createServer(async (request, response) => {
    const finish = (status, headers, body) => {
      response.writeHead(status, { ...CORS_HEADERS, ...headers });
      response.end(body);
      log(`${request.method} ${request.url} ${status}`);
    };

    if (request.method === 'OPTIONS') return finish(204, {});
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return finish(405, { Allow: 'GET, HEAD, OPTIONS' });
    }

    // Resolve the path inside the root, refusing anything that escapes it (../, symlinks out).
    let filePath;
    try {
      const urlPath = decodeURIComponent(new URL(request.url, 'http://local').pathname);
      filePath = await realpath(path.join(root, urlPath));
    } catch {
      return finish(404, { 'Content-Type': 'text/plain' }, 'not found\n');
    }
    if (filePath !== root && !filePath.startsWith(root + path.sep)) {
      return finish(404, { 'Content-Type': 'text/plain' }, 'not found\n');
    }
    const info = await stat(filePath).catch(() => null);
    if (!info?.isFile()) return finish(404, { 'Content-Type': 'text/plain' }, 'not found\n');

    const headers = {
      'Content-Type': mediaTypeFor(filePath),
      'Accept-Ranges': 'bytes',
      // Test packages are rewritten between runs under the same names.
      'Cache-Control': 'no-cache',
      'Last-Modified': info.mtime.toUTCString(),
    };
    const range = parseRange(request.headers.range, info.size);
    if (range === 'unsatisfiable') {
      return finish(416, { ...headers, 'Content-Range': `bytes */${info.size}` });
    }
    const { start, end } = range ?? { start: 0, end: info.size - 1 };
    const status = range ? 206 : 200;
    headers['Content-Length'] = String(info.size === 0 ? 0 : end - start + 1);
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${info.size}`;

    response.writeHead(status, { ...CORS_HEADERS, ...headers });
    log(`${request.method} ${request.url} ${status}${range ? ` ${start}-${end}` : ''}`);
    if (request.method === 'HEAD' || info.size === 0) return response.end();
    const stream = createReadStream(filePath, { start, end });
    stream.on('error', (error) => response.destroy(error));
    stream.pipe(response);
  });
}

function usage(message) {
  if (message) console.error(`serve.mjs: ${message}`);
  console.error('usage: node serve.mjs DIR [--port N] [--host 127.0.0.1] [--quiet]');
  process.exit(2);
}

async function main(argv) {
  let dir;
  let port = 0;
  let host = '127.0.0.1';
  let quiet = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--port') port = Number(argv[++i]);
    else if (arg === '--host') host = argv[++i];
    else if (arg === '--quiet') quiet = true;
    else if (arg === '-h' || arg === '--help') usage();
    else if (arg.startsWith('-')) usage(`unknown option ${arg}`);
    else if (dir === undefined) dir = arg;
    else usage(`unexpected argument ${arg}`);
  }
  if (dir === undefined) usage('DIR is required');
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage('--port must be 0-65535');
  const dirInfo = await stat(dir).catch(() => null);
  if (!dirInfo?.isDirectory()) usage(`${dir} is not a directory`);

  const server = await createStaticServer(dir, {
    log: quiet ? () => {} : (line) => console.error(line),
  });
  server.on('error', (error) => {
    console.error(`serve.mjs: ${error.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const address = server.address();
    console.log(`serving ${dir} at http://${address.address}:${address.port}/`);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
