// The in-page half of play.mjs: loads a manifest with one of the adapters, presses play, checks
// that playback advances, then forces every video rendition in turn and checks that each one
// is fetched and shown. play.mjs calls window.lecternHarness.run(options) and gets the report.
//
// "Played" for a rendition means all of:
//   1. after it was forced, the player loaded at least one media segment of that rendition;
//   2. the <video> element decoded a picture of that rendition's size (videoWidth/videoHeight),
//      when the manifest declares a size;
//   3. from that moment, currentTime advanced by at least `renditionAdvanceSeconds` (or the
//      clip ended).

window.lecternHarness = (() => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const pageLoadedAt = performance.now();
  const log = (message) => console.log(`[harness ${((performance.now() - pageLoadedAt) / 1000).toFixed(2)}s] ${message}`);

  const state = {
    errors: [],
    // Every media segment loaded: {key, at} with `at` from performance.now().
    segments: [],
  };

  function firstFatalError() {
    return state.errors.find((error) => error.fatal);
  }

  // Polls until check() returns a truthy value. Fails early on a fatal player error, so a
  // broken stream reports the player's reason rather than a timeout.
  async function waitFor(what, timeoutMs, check) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const fatal = firstFatalError();
      if (fatal) throw new Error(`fatal player error while waiting for ${what}: ${fatal.message}`);
      const value = check();
      if (value) return value;
      if (performance.now() > deadline) {
        throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
      }
      await sleep(100);
    }
  }

  // How far playback must go from `from`: `wanted` seconds, or up to just before the end for a
  // clip too short for that. Returns the target time.
  function advanceTarget(video, from, wanted) {
    const duration = Number.isFinite(video.duration) ? video.duration : Infinity;
    return Math.min(from + wanted, Math.max(from, duration - 0.3));
  }

  function reached(video, target) {
    return video.ended || video.currentTime >= target;
  }

  async function play(video) {
    video.muted = true;
    try {
      await video.play();
    } catch (error) {
      // A play() interrupted by a seek or a source change rejects with AbortError; the caller's
      // wait for currentTime to advance decides whether playback really failed.
      if (error.name !== 'AbortError') throw new Error(`video.play() failed: ${error.name}: ${error.message}`);
    }
  }

  function videoState(video) {
    return {
      current_time: Number(video.currentTime.toFixed(3)),
      duration: Number.isFinite(video.duration) ? Number(video.duration.toFixed(3)) : null,
      ended: video.ended,
      paused: video.paused,
      ready_state: video.readyState,
      video_width: video.videoWidth,
      video_height: video.videoHeight,
      media_error: video.error ? `${video.error.code}: ${video.error.message}` : null,
    };
  }

  async function checkRendition(adapter, video, rendition, options) {
    const result = {
      ...rendition,
      played: false,
      segments_loaded: 0,
      seen_width: null,
      seen_height: null,
      advanced_seconds: 0,
      verified_by: [],
      error: null,
    };
    // Segments loaded before the switch count too: when the forced rendition is the one
    // already playing (or the only one), everything may be buffered and nothing new is
    // fetched. The picture size and the advance below are checked after the switch.
    const forcedAt = performance.now();
    const segmentsOfRendition = () => state.segments.filter((segment) => segment.key === rendition.key).length;
    const segmentsSinceForced = () =>
      state.segments.filter((segment) => segment.key === rendition.key && segment.at >= forcedAt).length;
    try {
      // Start again from the beginning (short clips will have ended), then switch.
      video.currentTime = 0;
      adapter.force(rendition.key);
      await play(video);

      await waitFor(`a media segment of rendition ${rendition.key}`, options.renditionTimeoutMs, () => segmentsOfRendition() > 0);
      result.verified_by.push('segment_loaded');

      // Chromium keeps decoding the group of pictures it has started even after the player
      // removed it from the buffer, so the forced rendition would only show from the next
      // keyframe on (never, for a clip of one segment). Seeking once its segment is appended
      // restarts the decoder on what is buffered now. (Shaka does the same on clearBuffer.)
      await sleep(300);
      video.currentTime = 0;
      await play(video);

      if (rendition.width && rendition.height) {
        await waitFor(
          `a ${rendition.width}x${rendition.height} picture (showing ${video.videoWidth}x${video.videoHeight})`,
          options.renditionTimeoutMs,
          () => video.videoWidth === rendition.width && video.videoHeight === rendition.height,
        );
        result.verified_by.push('picture_size');
      }
      result.seen_width = video.videoWidth;
      result.seen_height = video.videoHeight;

      log(`rendition ${rendition.key}: segment loaded and ${video.videoWidth}x${video.videoHeight} shown at ${video.currentTime.toFixed(2)} s`);
      const from = video.currentTime;
      const target = advanceTarget(video, from, options.renditionAdvanceSeconds);
      // Playing to the end (--full) takes the rest of the clip in real time, on top of the wait.
      const playMs = Number.isFinite(target - from) ? (target - from) * 1000 : 0;
      await waitFor(`playback of rendition ${rendition.key} to advance from ${from.toFixed(2)} to ${target.toFixed(2)} s`,
        options.renditionTimeoutMs + playMs, () => reached(video, target));
      result.advanced_seconds = Number((video.currentTime - from).toFixed(3));
      result.verified_by.push('playback_advanced');
      result.played = true;
    } catch (error) {
      result.error = error.message;
      result.video = videoState(video);
    }
    result.segments_loaded = segmentsOfRendition();
    result.segments_loaded_after_switch = segmentsSinceForced();
    return result;
  }

  async function run(options) {
    const startedAt = performance.now();
    const report = {
      player: options.player,
      player_version: null,
      url: options.url,
      passed: false,
      playback: null,
      // How many video renditions the player lists (it leaves out those it cannot play).
      renditions_listed: null,
      renditions: [],
      errors: state.errors,
      failure: null,
    };
    const video = document.getElementById('video');
    const adapter = window.lecternAdapters[options.player]();
    try {
      report.player_version = adapter.version();
      const hooks = {
        onSegment: (key) => state.segments.push({ key, at: performance.now() }),
        onError: (error) => {
          state.errors.push({ ...error, at_seconds: Number(((performance.now() - startedAt) / 1000).toFixed(2)) });
          log(`${error.fatal ? 'FATAL ' : ''}${error.message}`);
        },
      };
      log(`loading ${options.url} with ${options.player}`);
      await Promise.race([
        adapter.load(video, options.url, hooks),
        sleep(options.loadTimeoutMs).then(() => {
          throw new Error(`the manifest did not load within ${options.loadTimeoutMs / 1000} s`);
        }),
      ]);
      report.player_version = adapter.version();

      // 1. Plain playback, with whatever rendition the player picks.
      await play(video);
      const from = video.currentTime;
      const target = advanceTarget(video, from, options.advanceSeconds);
      log(`playing; waiting for currentTime ${from.toFixed(2)} -> ${target.toFixed(2)}`);
      await waitFor(`playback to advance from ${from.toFixed(2)} to ${target.toFixed(2)} s`, options.playTimeoutMs,
        () => reached(video, target));
      report.playback = { started_at: Number(from.toFixed(3)), ...videoState(video) };

      // 2. Every video rendition, one at a time.
      const renditions = adapter.videoRenditions();
      report.renditions_listed = renditions.length;
      if (renditions.length === 0) throw new Error('the player found no video rendition');
      log(`renditions: ${renditions.map((r) => `${r.key}=${r.width}x${r.height}@${r.bandwidth}`).join(' ')}`);
      for (const rendition of renditions) {
        const result = await checkRendition(adapter, video, rendition, options);
        log(`rendition ${rendition.key}: ${result.played ? 'played' : `FAILED: ${result.error}`}`);
        report.renditions.push(result);
        if (firstFatalError()) break;
      }
      const failed = report.renditions.filter((rendition) => !rendition.played);
      const fatal = firstFatalError();
      if (fatal) report.failure = `fatal player error: ${fatal.message}`;
      else if (failed.length > 0) report.failure = `rendition(s) ${failed.map((r) => `${r.key} (${r.error})`).join('; ')} did not play`;
      else report.passed = true;
    } catch (error) {
      report.failure = error.message;
      report.video = videoState(video);
    } finally {
      try {
        await adapter.destroy();
      } catch (error) {
        log(`destroy failed: ${error.message}`);
      }
    }
    report.elapsed_seconds = Number(((performance.now() - startedAt) / 1000).toFixed(2));
    return report;
  }

  return { run };
})();
