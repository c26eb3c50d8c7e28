// Attaches an HLS stream to a <video>: hls.js (loaded only here, so only pages with a player
// download it) where Media Source Extensions exist, the browser's own HLS otherwise (Safari).
export async function attachHls(video: HTMLVideoElement, url: string): Promise<() => void> {
  const { default: Hls } = await import('hls.js');
  if (Hls.isSupported()) {
    const hls = new Hls();
    hls.loadSource(url);
    hls.attachMedia(video);
    return () => hls.destroy();
  }
  video.src = url;
  return () => video.removeAttribute('src');
}
