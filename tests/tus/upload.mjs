// Uploads one file to Lectern with the official tus-js-client, as a browser or Node app would.
// Used by tests/api/media_tus_client.rs; configured through the environment:
//   TUS_ENDPOINT  the creation URL (…/v1/uploads/tus)
//   TUS_FILE      the file to upload
//   TUS_TOKEN     bearer credential (access token or lk_ API key)
//   TUS_ASSET_ID  the asset the upload is for
//   TUS_CHUNK     bytes per PATCH (default 4 MiB)
// Prints one JSON line: {"url": …, "retries": n, "offsets": [...]} on success and exits 0;
// prints the error and exits 1 otherwise.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Upload } from 'tus-js-client';

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`upload.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const endpoint = need('TUS_ENDPOINT');
const file = need('TUS_FILE');
const token = need('TUS_TOKEN');
const assetId = need('TUS_ASSET_ID');
const chunkSize = Number(process.env.TUS_CHUNK ?? 4 * 1024 * 1024);

const data = await readFile(file);
let retries = 0;
const offsets = [];

await new Promise((resolve, reject) => {
  const upload = new Upload(data, {
    endpoint,
    chunkSize,
    uploadSize: data.length,
    retryDelays: [100, 300, 1000, 2000, 4000],
    headers: { Authorization: `Bearer ${token}` },
    metadata: { asset_id: assetId, filename: basename(file), filetype: 'video/mp4' },
    onShouldRetry(error, attempt) {
      retries += 1;
      console.error(`upload.mjs: retry ${attempt + 1} after: ${error.message}`);
      return true;
    },
    onChunkComplete(_chunk, accepted) {
      offsets.push(accepted);
    },
    onError: reject,
    onSuccess: () => resolve(upload.url),
  });
  upload.start();
}).then(
  (url) => {
    console.log(JSON.stringify({ url, retries, offsets }));
  },
  (error) => {
    console.error(`upload.mjs: upload failed: ${error}`);
    process.exit(1);
  },
);
