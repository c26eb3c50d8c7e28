// One adapter per player library, all with the same shape, so that harness.js can drive any of
// them the same way:
//
//   load(video, url, hooks)  attach to the <video>, load the manifest, resolve once the
//                            renditions are known. hooks.onSegment(renditionKey) is called for
//                            every MEDIA segment of a video rendition that finished loading
//                            (init segments and audio are left out); hooks.onError({fatal,
//                            message}) for every error the player reports.
//   videoRenditions()        [{key, width, height, bandwidth, codecs}] for the video renditions
//                            only (audio-only variants are left out).
//   force(key)               turn adaptive switching off and play that rendition only, dropping
//                            what is buffered so the next frames come from it.
//   destroy()
//
// This file is a classic script (not a module): the player libraries are UMD bundles that set
// window.Hls, window.dashjs and window.shaka.

/* global Hls, dashjs, shaka */
window.lecternAdapters = {
  hls: () => {
    let hls;
    return {
      version: () => Hls.version,
      async load(video, url, hooks) {
        if (!Hls.isSupported()) throw new Error('hls.js: MediaSource is not supported here');
        hls = new Hls({
          // Play every rendition whatever the size of the (small, headless) video element.
          capLevelToPlayerSize: false,
        });
        hls.on(Hls.Events.ERROR, (_event, data) => {
          const cause = data.error?.message ? `: ${data.error.message}` : '';
          const where = data.frag?.url ?? data.url ?? data.context?.url ?? '';
          hooks.onError({
            fatal: Boolean(data.fatal),
            message: `hls.js ${data.type}/${data.details}${cause}${where ? ` (${where})` : ''}`,
          });
        });
        hls.on(Hls.Events.FRAG_LOADED, (_event, data) => {
          // frag.type is 'main' for the variant's own segments ('audio' for alternate audio);
          // frag.level is the index of the variant in hls.levels.
          if (data.frag.type === 'main' && data.frag.sn !== 'initSegment') {
            hooks.onSegment(String(data.frag.level));
          }
        });
        const parsed = new Promise((resolve, reject) => {
          hls.once(Hls.Events.MANIFEST_PARSED, resolve);
          hls.on(Hls.Events.ERROR, (_event, data) => {
            if (data.fatal) reject(new Error(`hls.js could not load the manifest: ${data.details}`));
          });
        });
        hls.attachMedia(video);
        hls.loadSource(url);
        await parsed;
      },
      videoRenditions() {
        const all = hls.levels.map((level, index) => ({
          key: String(index),
          width: level.width || null,
          height: level.height || null,
          bandwidth: level.bitrate || null,
          codecs: [level.videoCodec, level.audioCodec].filter(Boolean).join(',') || null,
          hasVideo: Boolean(level.height || level.videoCodec),
        }));
        // Keep audio-only variants out (FFmpeg's master playlists list one). When nothing
        // declares video (no RESOLUTION, no CODECS), keep them all rather than test nothing.
        const withVideo = all.filter((rendition) => rendition.hasVideo);
        return (withVideo.length > 0 ? withVideo : all).map(({ hasVideo, ...rest }) => rest);
      },
      force(key) {
        // Setting currentLevel turns ABR off and switches immediately, flushing the buffer.
        hls.currentLevel = Number(key);
      },
      destroy() {
        hls?.destroy();
      },
    };
  },

  dash: () => {
    const player = dashjs.MediaPlayer().create();
    const events = dashjs.MediaPlayer.events;
    return {
      version: () => player.getVersion(),
      async load(video, url, hooks) {
        player.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING } });
        player.on(events.ERROR, (event) => {
          const error = event.error ?? {};
          // dash.js has no "fatal" flag: ERROR is what it raises once it has given up
          // (manifest or segment download failed after retries, MSE append failed, ...).
          hooks.onError({ fatal: true, message: `dash.js error ${error.code}: ${error.message}` });
        });
        player.on(events.PLAYBACK_ERROR, (event) => {
          hooks.onError({ fatal: true, message: `dash.js playback error: ${event.error?.message ?? event.error}` });
        });
        player.on(events.FRAGMENT_LOADING_COMPLETED, (event) => {
          const request = event.request;
          if (request?.mediaType !== 'video' || request.type !== 'MediaSegment') return;
          // dash.js 5 puts the Representation object on the request; 4.x had representationId.
          const id = request.representation?.id ?? request.representationId;
          if (id !== undefined && id !== null) hooks.onSegment(String(id));
        });
        const initialized = new Promise((resolve, reject) => {
          player.on(events.STREAM_INITIALIZED, resolve);
          player.on(events.ERROR, (event) => reject(new Error(`dash.js could not load the manifest: ${event.error?.message}`)));
        });
        // autoPlay=false: the harness presses play itself.
        player.initialize(video, url, false);
        await initialized;
      },
      videoRenditions() {
        return player.getRepresentationsByType('video').map((representation) => ({
          key: String(representation.id),
          width: representation.width || null,
          height: representation.height || null,
          bandwidth: representation.bandwidth || null,
          codecs: representation.codecs || null,
        }));
      },
      force(key) {
        player.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: false } } } });
        // forceReplace=true replaces what is buffered instead of waiting for it to play out.
        player.setRepresentationForTypeById('video', key, true);
      },
      destroy() {
        player.reset();
      },
    };
  },

  shaka: () => {
    let player;
    let abrDisabled = false;
    return {
      version: () => shaka.Player.version,
      async load(video, url, hooks) {
        shaka.polyfill.installAll();
        if (!shaka.Player.isBrowserSupported()) throw new Error('Shaka: browser not supported');
        player = new shaka.Player();
        await player.attach(video);
        player.addEventListener('error', (event) => {
          const error = event.detail;
          hooks.onError({
            fatal: error.severity === shaka.util.Error.Severity.CRITICAL,
            message: `Shaka error ${error.code} (category ${error.category})${error.data?.length ? `: ${JSON.stringify(error.data).slice(0, 300)}` : ''}`,
          });
        });
        // The networking engine tells which stream each segment belongs to; a variant track's
        // videoId is the id of its video stream.
        const { RequestType, AdvancedRequestType } = shaka.net.NetworkingEngine;
        player.getNetworkingEngine().registerResponseFilter((type, _response, context) => {
          if (type !== RequestType.SEGMENT || context?.stream?.type !== 'video') return;
          if (context.type !== undefined && context.type !== AdvancedRequestType.MEDIA_SEGMENT) return;
          hooks.onSegment(String(context.stream.id));
        });
        try {
          await player.load(url);
        } catch (error) {
          // A shaka.util.Error's message is only "Shaka Error 1001"; the data says what failed.
          const data = error.data?.length ? `: ${JSON.stringify(error.data).slice(0, 300)}` : '';
          throw new Error(`Shaka could not load the manifest: error ${error.code}${data}`);
        }
      },
      // One track per video stream. Variants are video x audio combinations; with several
      // audio tracks, keep the combinations with the audio that is playing.
      variantsByVideo() {
        const tracks = player.getVariantTracks().filter((track) => track.videoId !== null);
        const activeAudio = tracks.find((track) => track.active)?.audioId;
        const byVideo = new Map();
        for (const track of tracks) {
          const current = byVideo.get(track.videoId);
          if (!current || (track.audioId === activeAudio && current.audioId !== activeAudio)) {
            byVideo.set(track.videoId, track);
          }
        }
        return byVideo;
      },
      videoRenditions() {
        return [...this.variantsByVideo().values()].map((track) => ({
          key: String(track.videoId),
          width: track.width || null,
          height: track.height || null,
          bandwidth: track.videoBandwidth || track.bandwidth || null,
          codecs: track.codecs || null,
        }));
      },
      force(key) {
        // ABR must be off BEFORE selecting, or the next ABR decision undoes the selection.
        if (!abrDisabled) {
          player.configure({ abr: { enabled: false } });
          abrDisabled = true;
        }
        const track = this.variantsByVideo().get(Number(key));
        if (!track) throw new Error(`Shaka has no video track ${key}`);
        // clearBuffer=true drops what is buffered so the selected stream is fetched now.
        player.selectVariantTrack(track, true);
      },
      destroy() {
        return player?.destroy();
      },
    };
  },
};
