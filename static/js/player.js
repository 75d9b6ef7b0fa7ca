// The live player: LL-HLS from /live/{slug}/index.m3u8, natively where the browser plays HLS,
// else through our Media Source player. It shows an offline state and polls until the stream
// starts (the room socket's stream.state events make that immediate), keeps near the live
// edge (a small speed-up when a little behind, a seek when far behind), and restarts itself
// after errors and stalls. Add ?player=mse to the page address to force the MSE player.

import {MseHlsPlayer} from './hls-mse.js';
import {say} from './dom.js';

const HLS_TYPE = 'application/vnd.apple.mpegurl';
const POLL_MS = 3000;
const TICK_MS = 1000;
const BEHIND_SPEEDUP_S = 3;
const BEHIND_SEEK_S = 8;
const CAUGHT_UP_S = 1.5;
const NATIVE_REJOIN_S = 12;
const STALL_RESTART_S = 10;

export function nativeHls(video) {
  return video.canPlayType(HLS_TYPE) !== '';
}

export class LivePlayer {
  /** parts: {video, overlay, badge}; options: {slug, socket} */
  constructor({video, overlay, badge}, {slug, socket = null}) {
    this.video = video;
    this.overlay = overlay;
    this.badge = badge;
    this.slug = slug;
    this.hlsUrl = `/live/${encodeURIComponent(slug)}/index.m3u8`;
    this.forceMse = new URLSearchParams(location.search).get('player') === 'mse';
    this.mode = null;
    this.mse = null;
    this.pollTimer = null;
    this.tickTimer = null;
    this.lastTime = 0;
    this.stillFor = 0;
    this.onState = null;  // called with every new state (the watch page's offline card)
    this.started = false;  // a gated room's page sets the playlist address (its token) before start()
    video.muted = true;
    video.playsInline = true;
    video.addEventListener('error', () => this.failed('the video could not be played'));
    video.addEventListener('playing', () => this.setState('live'));
    if (socket) {
      socket.on('snapshot', (data) => { if (data.stream) this.streamState(data.stream); });
      socket.on('stream.state', (data) => this.streamState(data));
    }
  }

  start() {
    this.started = true;
    this.setState('checking');
    this.check();
  }

  /** A gated room's playlist address carries the viewing token, renewed by the heartbeat. */
  setHlsUrl(url) {
    this.hlsUrl = url;
    if (this.mse) this.mse.url = url;
  }

  /** Stop for good (no ticket any more, watching on another device), saying why. */
  halt(message) {
    this.halted = true;
    this.stopPlayback('ended', message);
    clearTimeout(this.pollTimer);
  }

  streamState(stream) {
    const state = typeof stream === 'string' ? stream : stream && stream.state;
    if (state === 'live' && !this.mode) {
      if (this.started) this.check();  // before start() the address may still lack its token
    } else if (state === 'live' && this.state === 'reconnecting') this.setState('live');
    else if (state === 'offline' && this.mode) this.stopPlayback('offline');
    else if (state === 'reconnecting') this.setState('reconnecting');
  }

  async check() {
    clearTimeout(this.pollTimer);
    if (this.halted) return;
    const state = await this.probe();
    if (this.mode) return;
    if (state === 'live') this.play();
    else {
      this.setState(state);
      this.pollTimer = setTimeout(() => this.check(), POLL_MS);
    }
  }

  /** 'live' when the playlist has media to play; else 'offline' or 'starting'. */
  async probe() {
    let apiState = null;
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(this.slug)}/stream`, {cache: 'no-store'});
      if (response.ok) apiState = (await response.json()).state || null;
    } catch {
      apiState = null;
    }
    if (apiState === 'offline') return 'offline';
    try {
      const response = await fetch(this.hlsUrl, {cache: 'no-store'});
      const text = response.ok ? await response.text() : '';
      if (text.startsWith('#EXTM3U') && /#EXTINF|#EXT-X-PART:|#EXT-X-STREAM-INF/.test(text)) return 'live';
    } catch {
      // offline or not served yet
    }
    return apiState === 'live' || apiState === 'reconnecting' ? 'starting' : 'offline';
  }

  play() {
    this.mode = !this.forceMse && nativeHls(this.video) ? 'native' : 'mse';
    this.video.dataset.player = this.mode;
    this.lastTime = 0;
    this.stillFor = 0;
    this.setState('loading');
    if (this.mode === 'native') {
      this.video.src = this.hlsUrl;
    } else {
      this.mse = new MseHlsPlayer(this.video, this.hlsUrl, {
        onFatal: (err) => this.failed(err.message),
        onDiscontinuity: () => this.restart(),
      });
      this.mse.start();
    }
    this.video.play().catch(() => {});
    clearInterval(this.tickTimer);
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Once a second: keep near the live edge, jump gaps, and restart after a long stall. */
  tick() {
    const video = this.video;
    const edge = this.liveEdge();
    const behind = edge - video.currentTime;
    video.dataset.behind = Number.isFinite(behind) ? behind.toFixed(2) : '';
    if (Number.isFinite(behind) && this.mode === 'mse') {
      if (behind > BEHIND_SEEK_S) video.currentTime = edge - CAUGHT_UP_S;
      else if (behind > BEHIND_SPEEDUP_S) video.playbackRate = 1.1;
      else if (behind < CAUGHT_UP_S) video.playbackRate = 1.0;
    } else if (Number.isFinite(behind) && behind > NATIVE_REJOIN_S) {
      // Chromium's native HLS has no seekable range on a live stream and stops on any live
      // playbackRate other than 0 or 1: rejoin at the live edge instead.
      this.restart();
      return;
    }
    this.jumpGap();
    if (video.paused && video.readyState >= 3) video.play().catch(() => {});
    if (Math.abs(video.currentTime - this.lastTime) < 0.01) this.stillFor += TICK_MS / 1000;
    else this.stillFor = 0;
    this.lastTime = video.currentTime;
    if (this.stillFor >= STALL_RESTART_S) this.restart();
  }

  liveEdge() {
    const ranges = this.mode === 'native' && this.video.seekable.length ? this.video.seekable : this.video.buffered;
    if (!ranges.length) return NaN;
    const end = ranges.end(ranges.length - 1);
    return Number.isFinite(end) ? end : NaN;
  }

  jumpGap() {
    const {buffered, currentTime} = this.video;
    for (let i = 0; i < buffered.length; i++) {
      if (currentTime >= buffered.start(i) && currentTime <= buffered.end(i)) return;
    }
    for (let i = 0; i < buffered.length; i++) {
      if (buffered.start(i) > currentTime) {
        this.video.currentTime = buffered.start(i) + 0.05;
        return;
      }
    }
  }

  failed(message) {
    if (!this.mode) return;
    this.stopPlayback('error', message);
    this.pollTimer = setTimeout(() => this.check(), POLL_MS);
  }

  restart() {
    this.stopPlayback('loading');
    this.check();
  }

  stopPlayback(state, message) {
    clearInterval(this.tickTimer);
    if (this.mse) this.mse.stop();
    this.mse = null;
    this.mode = null;
    this.video.removeAttribute('src');
    this.video.load();
    this.setState(state, message);
    if (state === 'offline') {
      clearTimeout(this.pollTimer);
      this.pollTimer = setTimeout(() => this.check(), POLL_MS);
    }
  }

  setState(state, message) {
    const texts = {
      checking: 'Looking for the stream…',
      offline: 'The stream is offline. This page will start playing as soon as it goes live.',
      starting: 'The stream is starting…',
      loading: 'Loading the stream…',
      reconnecting: 'The performer is reconnecting…',
      error: `Playback problem${message ? `: ${message}` : ''}. Retrying…`,
      ended: message || 'Playback stopped.',
      live: '',
    };
    this.state = state;
    this.video.dataset.state = state;
    if (this.onState) this.onState(state);
    say(this.overlay, texts[state] ?? '', state === 'error' ? 'error' : 'info');
    if (this.badge) {
      this.badge.textContent = state === 'live' ? 'LIVE' : state === 'reconnecting' ? 'RECONNECTING' : 'OFFLINE';
      this.badge.dataset.state = state === 'live' || state === 'reconnecting' ? state : 'offline';
    }
  }
}
