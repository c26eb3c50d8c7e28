import Uppy, { type UppyFile } from '@uppy/core';
import Tus from '@uppy/tus';
import { DragEvent, FormEvent, useEffect, useRef, useState } from 'react';
import { accessToken, api, apiUrl } from '../api';
import { attachHls } from '../hls';
import { formatBytes, formatDuration, useI18n } from '../i18n';
import type { Asset, PlaybackSession } from '../types';
import { ErrorMessage, ProgressBar } from '../ui';

type Meta = { asset_id?: string; name: string; type: string };
type Body = Record<string, never>;

interface UploadRow {
  id: string;
  name: string;
  size: number;
  uploaded: number;
  speed: number;
  paused: boolean;
  done: boolean;
  error: string | null;
}

// Which asset a file belongs to, by Uppy's file id (name, type, size and modification time):
// a file picked again after a reload resumes its tus upload (tus-js-client keeps the upload URL)
// and must not create a second asset.
const assetKey = (fileId: string) => `lectern.upload-asset.${fileId}`;

function useUppy(onChange: () => void) {
  const [uppy] = useState(() => {
    const instance = new Uppy<Meta, Body>({ autoProceed: true, restrictions: { allowedFileTypes: ['video/*', 'audio/*', '.mkv', '.mov', '.mp4'] } });
    instance.use(Tus, {
      endpoint: apiUrl('v1/uploads/tus'),
      chunkSize: 8 * 1024 * 1024,
      // A dropped connection is retried with these delays, then the upload shows an error and
      // can be resumed from the offset the server holds.
      retryDelays: [0, 1000, 3000, 5000, 10000],
      allowedMetaFields: ['asset_id', 'name', 'type'],
      // A finished upload is forgotten: the same file picked again is a new asset, not a
      // "resumed" upload that is already complete.
      removeFingerprintOnSuccess: true,
      async onBeforeRequest(request) {
        const token = await accessToken();
        if (token) request.setHeader('Authorization', `Bearer ${token}`);
      },
    });
    instance.addPreProcessor(async (fileIds) => {
      for (const id of fileIds) {
        const file = instance.getFile(id);
        let assetId = localStorage.getItem(assetKey(id));
        if (assetId) {
          // The asset of an earlier, interrupted upload: still waiting for its original?
          const existing = await api<Asset>('GET', `v1/assets/${assetId}`).catch(() => null);
          if (!existing || existing.status !== 'waiting_upload') assetId = null;
        }
        if (!assetId) {
          const title = file.name?.replace(/\.[^.]+$/, '') || 'Untitled';
          assetId = (await api<Asset>('POST', 'v1/assets', { title })).id;
          localStorage.setItem(assetKey(id), assetId);
        }
        instance.setFileMeta(id, { ...file.meta, asset_id: assetId });
      }
      onChange();
    });
    return instance;
  });
  useEffect(() => () => uppy.destroy(), [uppy]);
  return uppy;
}

export default function Library() {
  const { t } = useI18n();
  const [assets, setAssets] = useState<Asset[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [uploads, setUploads] = useState<UploadRow[]>([]);
  const [preview, setPreview] = useState<Asset | null>(null);
  const [dragging, setDragging] = useState(false);
  const speeds = useRef(new Map<string, { at: number; bytes: number; speed: number }>());

  const refresh = () =>
    api<{ assets: Asset[] }>('GET', 'v1/assets?limit=100').then((list) => {
      setAssets(list.assets);
      setError(null);
    }, setError);

  const uppy = useUppy(refresh);

  useEffect(() => {
    const rows = () =>
      setUploads(
        uppy.getFiles().map((file: UppyFile<Meta, Body>) => ({
          id: file.id,
          name: file.name ?? '',
          size: file.size ?? 0,
          uploaded: file.progress.bytesUploaded || 0,
          speed: speeds.current.get(file.id)?.speed ?? 0,
          paused: !!file.isPaused,
          done: !!file.progress.uploadComplete,
          error: file.error ? String(file.error) : null,
        })),
      );
    const onProgress = (file: UppyFile<Meta, Body> | undefined) => {
      if (!file) return;
      const now = performance.now();
      const bytes = file.progress.bytesUploaded || 0;
      const previous = speeds.current.get(file.id);
      let speed = previous?.speed ?? 0;
      if (previous && now > previous.at + 250) {
        const sample = ((bytes - previous.bytes) * 1000) / (now - previous.at);
        speed = speed ? 0.7 * speed + 0.3 * sample : sample;
        speeds.current.set(file.id, { at: now, bytes, speed });
      } else if (!previous) {
        speeds.current.set(file.id, { at: now, bytes, speed: 0 });
      }
      rows();
    };
    const onSuccess = (file: UppyFile<Meta, Body> | undefined) => {
      if (file) localStorage.removeItem(assetKey(file.id));
      rows();
      refresh();
    };
    uppy.on('upload-progress', onProgress);
    uppy.on('upload-success', onSuccess);
    uppy.on('upload-error', rows);
    uppy.on('upload-pause', rows);
    uppy.on('file-added', rows);
    uppy.on('file-removed', rows);
    return () => {
      uppy.off('upload-progress', onProgress);
      uppy.off('upload-success', onSuccess);
      uppy.off('upload-error', rows);
      uppy.off('upload-pause', rows);
      uppy.off('file-added', rows);
      uppy.off('file-removed', rows);
    };
  }, [uppy]);

  // Live status: poll while anything is still on its way to `ready` (or being uploaded).
  const busy = assets.some((asset) => !['ready', 'errored', 'waiting_upload'].includes(asset.status)) || uploads.some((row) => !row.done);
  useEffect(() => {
    refresh();
  }, []);
  useEffect(() => {
    if (!busy) return;
    const timer = window.setInterval(refresh, 2000);
    return () => window.clearInterval(timer);
  }, [busy]);

  const addFiles = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) {
      try {
        uppy.addFile({ name: file.name, type: file.type, data: file, source: 'Local' });
      } catch (caught) {
        // Already added (the same file twice), or not a video: say so.
        setError(caught);
      }
    }
  };
  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    addFiles(event.dataTransfer.files);
  };

  return (
    <section>
      <h1>{t('library.title')}</h1>
      <div
        className={`dropzone${dragging ? ' dragging' : ''}`}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p>
          {t('library.drop')}{' '}
          <label className="file-pick">
            {t('library.pick')}
            <input type="file" multiple accept="video/*,audio/*,.mkv,.mov" onChange={(event) => addFiles(event.target.files)} />
          </label>
        </p>
      </div>
      {uploads.length > 0 && (
        <section aria-labelledby="uploads-title">
          <h2 id="uploads-title">{t('library.uploads')}</h2>
          <ul className="uploads">
            {uploads.map((row) => {
              const left = row.speed > 0 ? (row.size - row.uploaded) / row.speed : 0;
              return (
                <li key={row.id} className="card upload" data-testid="upload">
                  <span className="name">{row.name}</span>
                  <ProgressBar value={row.size ? row.uploaded / row.size : 0} label={row.name} />
                  <span className="meta">
                    {formatBytes(row.uploaded)} / {formatBytes(row.size)}
                    {!row.done && row.speed > 0 && ` · ${t('library.speed', { speed: formatBytes(row.speed), left: formatDuration(left) })}`}
                    {row.done && ` · ${t('library.uploaded')}`}
                  </span>
                  {!row.done && (
                    <button type="button" className="secondary" onClick={() => uppy.pauseResume(row.id)}>
                      {row.paused ? t('library.resume') : t('library.pause')}
                    </button>
                  )}
                  {row.error && !row.done && (
                    <>
                      <span className="error">{row.error}</span>
                      <button type="button" className="secondary" onClick={() => uppy.retryUpload(row.id)}>
                        {t('library.resume')}
                      </button>
                    </>
                  )}
                </li>
              );
            })}
          </ul>
        </section>
      )}
      <ErrorMessage error={error} />
      {preview && <Preview asset={preview} onClose={() => setPreview(null)} />}
      {assets.length === 0 ? (
        <p>{t('library.empty')}</p>
      ) : (
        <ul className="assets">
          {assets.map((asset) => (
            <AssetRow key={asset.id} asset={asset} onChanged={refresh} onPreview={() => setPreview(asset)} />
          ))}
        </ul>
      )}
    </section>
  );
}

function StatusText({ asset }: { asset: Asset }) {
  const { t } = useI18n();
  const parts = [t(`status.${asset.status}` as const)];
  if (asset.status === 'processing' && asset.progress !== null) parts.push(t('library.progress', { percent: Math.round(asset.progress * 100) }));
  if (asset.status === 'processing' && asset.eta_seconds) parts.push(t('library.eta', { left: formatDuration(asset.eta_seconds) }));
  if (asset.playable && asset.status !== 'ready') parts.push(t('status.playable'));
  return (
    <span className={`status status-${asset.status}`} data-status={asset.status} data-playable={asset.playable}>
      {parts.join(' · ')}
      {asset.error && <span className="error"> — {asset.error.message}</span>}
    </span>
  );
}

function AssetRow({ asset, onChanged, onPreview }: { asset: Asset; onChanged: () => void; onPreview: () => void }) {
  const { t } = useI18n();
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(asset.title);
  const [error, setError] = useState<unknown>(null);
  const run = (work: Promise<unknown>) => work.then(onChanged, setError);
  const save = (event: FormEvent) => {
    event.preventDefault();
    run(api('PATCH', `v1/assets/${asset.id}`, { title }).then(() => setEditing(false)));
  };
  return (
    <li className="card asset" data-testid="asset" data-asset-id={asset.id}>
      {editing ? (
        <form onSubmit={save} className="inline-form">
          <label>
            <span className="visually-hidden">{t('common.title')}</span>
            <input value={title} onChange={(event) => setTitle(event.target.value)} required />
          </label>
          <button type="submit">{t('common.save')}</button>
          <button type="button" className="secondary" onClick={() => setEditing(false)}>
            {t('common.cancel')}
          </button>
        </form>
      ) : (
        <h2 className="asset-title">{asset.title}</h2>
      )}
      <StatusText asset={asset} />
      {asset.status === 'processing' && asset.progress !== null && <ProgressBar value={asset.progress} label={t('status.processing')} />}
      {asset.source?.duration ? <span className="meta">{formatDuration(asset.source.duration)}</span> : null}
      <div className="actions">
        <button type="button" disabled={!asset.playable} onClick={onPreview}>
          {t('library.preview')}
        </button>
        <button type="button" className="secondary" onClick={() => setEditing(true)}>
          {t('library.rename')}
        </button>
        <button type="button" className="secondary" disabled={asset.status !== 'ready'} onClick={() => run(api('POST', `v1/assets/${asset.id}/reprocess`, { preset: 'course' }))}>
          {t('library.reprocess')}
        </button>
        <button
          type="button"
          className="danger"
          onClick={() => window.confirm(t('library.confirmDelete', { title: asset.title })) && run(api('DELETE', `v1/assets/${asset.id}`))}
        >
          {t('common.delete')}
        </button>
      </div>
      <ErrorMessage error={error} />
    </li>
  );
}

function Preview({ asset, onClose }: { asset: Asset; onClose: () => void }) {
  const { t } = useI18n();
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let detach: (() => void) | null = null;
    let cancelled = false;
    api<PlaybackSession>('POST', `v1/assets/${asset.id}/playback`, {})
      .then(async (session) => {
        if (cancelled || !video.current) return;
        video.current.poster = session.poster_url;
        detach = await attachHls(video.current, session.hls_url);
      })
      .catch(setError);
    return () => {
      cancelled = true;
      detach?.();
    };
  }, [asset.id]);
  return (
    <section className="card preview" aria-labelledby="preview-title">
      <h2 id="preview-title">
        {t('library.preview')}: {asset.title}
      </h2>
      <video ref={video} controls playsInline muted className="lesson-video" data-testid="preview-video" aria-label={asset.title} />
      <ErrorMessage error={error} />
      <button type="button" className="secondary" onClick={onClose}>
        {t('common.cancel')}
      </button>
    </section>
  );
}
