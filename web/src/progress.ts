// Reports watch progress to the training domain, as web/examples/progress-reporter.html does
// (that page documents the protocol for integrators): the stretches really played, with their
// rate and the page's visibility, every 10 s while playing, on pause, `ended` and before a seek,
// and a last report with navigator.sendBeacon when the page is hidden or closed. Bodies are
// text/plain (the token travels inside), so no CORS preflight is ever needed.

const REPORT_EVERY_MS = 10_000;
const MAX_SPANS = 64;

interface Span {
  from_ms: number;
  to_ms: number;
  rate: number;
}

export function reportProgress(video: HTMLVideoElement, progressUrl: string, token: string, onReported?: () => void): () => void {
  let seq = 0;
  let rate = video.playbackRate;
  let from: number | null = null;
  let last = 0;
  let visible = document.visibilityState === 'visible';
  let queued: Span[] = [];
  let inFlight: Span[] | null = null;
  let again = false;
  let lastSent: { position_ms: number; playing: boolean } | null = null;

  function cut(at: number) {
    if (from !== null && at > from) queued.push({ from_ms: Math.round(from * 1000), to_ms: Math.round(at * 1000), rate });
    from = null;
  }

  function report(beacon = false) {
    const now = video.currentTime;
    if (from !== null) {
      cut(now);
      if (!video.paused && !video.seeking) from = last = now;
    }
    if (!beacon && inFlight) {
      again = true;
      return;
    }
    const spans = (beacon && inFlight ? inFlight.concat(queued) : queued).slice(-MAX_SPANS);
    const playing = !video.paused && !video.ended;
    const position_ms = Math.round(now * 1000);
    if (spans.length === 0 && lastSent && lastSent.position_ms === position_ms && lastSent.playing === playing) return;
    seq += 1;
    const body = JSON.stringify({ seq, position_ms, playing, visible, spans, token });
    lastSent = { position_ms, playing };
    queued = [];
    if (beacon) {
      if (!navigator.sendBeacon(progressUrl, new Blob([body], { type: 'text/plain' }))) queued = spans;
      return;
    }
    inFlight = spans;
    fetch(progressUrl, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } })
      .then(() => onReported?.())
      .catch(() => {
        queued = spans.concat(queued);
      })
      .finally(() => {
        inFlight = null;
        if (again) {
          again = false;
          report();
        }
      });
  }

  const onPlaying = () => {
    if (from === null) from = video.currentTime;
    last = video.currentTime;
  };
  const onTimeUpdate = () => {
    if (video.paused || video.seeking) return;
    const now = video.currentTime;
    if (from !== null && (now < last || now - last > 2 * Math.max(rate, 1))) cut(last);
    if (from === null) from = now;
    last = now;
  };
  const onSeeking = () => {
    cut(last);
    if (queued.length > 0) report();
  };
  const onPause = () => report();
  const onRateChange = () => {
    const now = video.currentTime;
    cut(now);
    rate = video.playbackRate;
    if (!video.paused && !video.seeking) from = last = now;
  };
  let leaving = false;
  const onVisibility = () => {
    if (!leaving) report(true);
    visible = document.visibilityState === 'visible';
  };
  const onPageHide = () => {
    report(true);
    leaving = true;
  };
  const onPageShow = () => {
    leaving = false;
  };
  const timer = window.setInterval(() => {
    if (!video.paused || queued.length > 0) report();
  }, REPORT_EVERY_MS);

  video.addEventListener('playing', onPlaying);
  video.addEventListener('timeupdate', onTimeUpdate);
  video.addEventListener('seeking', onSeeking);
  video.addEventListener('pause', onPause);
  video.addEventListener('ended', onPause);
  video.addEventListener('ratechange', onRateChange);
  document.addEventListener('visibilitychange', onVisibility);
  window.addEventListener('pagehide', onPageHide);
  window.addEventListener('pageshow', onPageShow);
  return () => {
    // Leaving the lesson inside the app: one last report of what was played.
    report(true);
    window.clearInterval(timer);
    video.removeEventListener('playing', onPlaying);
    video.removeEventListener('timeupdate', onTimeUpdate);
    video.removeEventListener('seeking', onSeeking);
    video.removeEventListener('pause', onPause);
    video.removeEventListener('ended', onPause);
    video.removeEventListener('ratechange', onRateChange);
    document.removeEventListener('visibilitychange', onVisibility);
    window.removeEventListener('pagehide', onPageHide);
    window.removeEventListener('pageshow', onPageShow);
  };
}
