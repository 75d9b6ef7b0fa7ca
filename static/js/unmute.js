// Browsers only autoplay muted video: while the live video plays muted, a clear button over
// it offers the sound; it goes once the fan unmutes (with it or the video's own controls).

export function unmutePrompt(video, button) {
  const update = () => { button.hidden = !(video.muted && !video.paused); };
  button.addEventListener('click', () => {
    video.muted = false;
    video.volume = video.volume || 1;
    update();
  });
  for (const event of ['playing', 'pause', 'volumechange', 'emptied']) video.addEventListener(event, update);
  update();
}
