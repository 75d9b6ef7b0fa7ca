// Our Media Source player for recorded shows (VOD and EVENT playlists), with seeking, for
// browsers without native HLS (the replay page, issue 13). It reads the playlist parsePlaylist
// reads for live, gives every segment its start time on the playlist's timeline (the sum of the
// EXTINF before it: the time a chapter names and native HLS shows), and keeps a bounded window
// of the recording in the SourceBuffer: up to `ahead` seconds past the playhead, 20 s behind.
// A seek outside what is buffered fetches the segment holding the target time (whole segments;
// the server also serves Range requests) and goes on from there.
//
// Timestamps: a segment's samples carry the recorder's decode times (tfdt). Where a run of
// segments starts (the first load, after a seek, at a discontinuity) the SourceBuffer's
// timestampOffset is set so the run's first sample lands at its segment's playlist start; inside
// a run the recorder's own timestamps go on untouched, as they were cut.

import {codecsFromInit, parsePlaylist} from './hls-mse.js';

const AHEAD_S = 8;
const BEHIND_S = 20;
const IDLE_MS = 250;
const MAX_ERRORS = 6;
const RANGE_SLACK_S = 0.25;

/** Give each segment its `start` (seconds on the playlist's timeline); the total duration. */
export function timeline(segments) {
  let at = 0;
  for (const segment of segments) {
    segment.start = at;
    at += segment.duration;
  }
  return at;
}

/** The index of the segment that holds time `t` (the last one past the end), or -1 if none. */
export function segmentAt(segments, t) {
  if (!segments.length) return -1;
  for (let i = 0; i < segments.length; i++) {
    if (t < segments[i].start + segments[i].duration) return i;
  }
  return t <= segments[segments.length - 1].start + segments[segments.length - 1].duration ? segments.length - 1 : segments.length;
}

function* boxes(bytes, start, end) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = start;
  while (at + 8 <= end) {
    let size = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]);
    let header = 8;
    if (size === 1) {
      size = Number(view.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < header || at + size > end) return;
    yield {type, body: at + header, end: at + size, view};
    at += size;
  }
}

function child(bytes, parent, type) {
  for (const box of boxes(bytes, parent.body, parent.end)) if (box.type === type) return box;
  return null;
}

function path(bytes, parent, types) {
  let box = parent;
  for (const type of types) {
    box = box && child(bytes, box, type);
  }
  return box;
}

const whole = (bytes) => ({body: 0, end: bytes.length});

/** Track id -> timescale, from an init segment's moov/trak (tkhd, mdia/mdhd). */
export function timescales(init) {
  const scales = new Map();
  const moov = child(init, whole(init), 'moov');
  for (const trak of moov ? boxes(init, moov.body, moov.end) : []) {
    if (trak.type !== 'trak') continue;
    const tkhd = child(init, trak, 'tkhd');
    const mdhd = path(init, trak, ['mdia', 'mdhd']);
    if (!tkhd || !mdhd) continue;
    const id = tkhd.view.getUint32(tkhd.body + (init[tkhd.body] === 1 ? 20 : 12));
    scales.set(id, mdhd.view.getUint32(mdhd.body + (init[mdhd.body] === 1 ? 20 : 12)));
  }
  return scales;
}

/** The earliest decode time (seconds) of a media segment's first moof, over its tracks. */
export function firstDecodeTime(segment, scales) {
  const moof = child(segment, whole(segment), 'moof');
  let earliest = null;
  for (const traf of moof ? boxes(segment, moof.body, moof.end) : []) {
    if (traf.type !== 'traf') continue;
    const tfhd = child(segment, traf, 'tfhd');
    const tfdt = child(segment, traf, 'tfdt');
    const scale = tfhd && scales.get(tfhd.view.getUint32(tfhd.body + 4));
    if (!tfdt || !scale) continue;
    const v = tfdt.view;
    const ticks = segment[tfdt.body] === 1 ? Number(v.getBigUint64(tfdt.body + 4)) : v.getUint32(tfdt.body + 4);
    earliest = earliest === null ? ticks / scale : Math.min(earliest, ticks / scale);
  }
  if (earliest === null) throw new Error('a media segment without moof/traf/tfdt');
  return earliest;
}

function once(target, name) {
  return new Promise((resolve) => target.addEventListener(name, resolve, {once: true}));
}

export class MseVodPlayer {
  constructor(video, url, {onFatal = () => {}, ahead = AHEAD_S} = {}) {
    this.video = video;
    this.url = url;
    this.onFatal = onFatal;
    this.ahead = ahead;
    this.abort = new AbortController();
    this.inits = new Map();  // init URI -> its track timescales
    this.map = null;  // the init last appended
    this.last = null;  // the msn last appended (a run goes on from it)
    this.errors = 0;
    this.loads = [];  // the segments fetched, in order (msn): for the console and tests
    this.wakeUp = () => {};
    video.addEventListener('seeking', () => this.wakeUp());
  }

  stop() {
    this.abort.abort();
    this.wakeUp();
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
  }

  get stopped() {
    return this.abort.signal.aborted;
  }

  async start() {
    try {
      await this.open();
      await this.loop();
    } catch (err) {
      if (!this.stopped) this.onFatal(err);
    }
  }

  async open() {
    let pl = await this.fetchPlaylist(this.url);
    if (pl.variants.length) {
      this.url = pl.variants[0].uri;
      pl = await this.fetchPlaylist(this.url);
    }
    this.setPlaylist(pl);
    const first = pl.segments[0];
    if (!first) throw new Error('the recording has no segment yet');
    if (!first.map) throw new Error('the playlist has no EXT-X-MAP init segment');
    this.mediaSource = new MediaSource();
    this.objectUrl = URL.createObjectURL(this.mediaSource);
    this.video.src = this.objectUrl;
    await once(this.mediaSource, 'sourceopen');
    const init = await this.fetchBytes(first.map);
    const type = `video/mp4; codecs="${codecsFromInit(init)}"`;
    if (!MediaSource.isTypeSupported(type)) throw new Error(`this browser cannot play ${type}`);
    this.sourceBuffer = this.mediaSource.addSourceBuffer(type);
    this.mediaSource.duration = this.total;
    await this.appendInit(first.map, init);
  }

  setPlaylist(pl) {
    this.playlist = pl;
    this.total = timeline(pl.segments);
  }

  /** The buffered range holding time t, or null. */
  rangeAt(t) {
    const buffered = this.sourceBuffer.buffered;
    for (let i = 0; i < buffered.length; i++) {
      if (buffered.start(i) - RANGE_SLACK_S <= t && t < buffered.end(i)) return {start: buffered.start(i), end: buffered.end(i)};
    }
    return null;
  }

  /** The segment to fetch next (an index, past the end when all is there), or null: enough is buffered. */
  wanted() {
    const t = this.video.currentTime;
    const range = this.rangeAt(t);
    if (range && range.end - t >= this.ahead) return null;
    const segments = this.playlist.segments;
    if (range && range.end >= this.total - RANGE_SLACK_S) return segments.length;
    const index = segmentAt(segments, range ? range.end + RANGE_SLACK_S : t);
    // A segment whose samples end a little short of its EXTINF: go on past it, not back to it.
    return range && this.last !== null && segments[index] && segments[index].msn === this.last ? index + 1 : index;
  }

  async loop() {
    while (!this.stopped) {
      const index = this.wanted();
      const segments = this.playlist.segments;
      if (index === null || (index >= segments.length && this.playlist.endList)) {
        if (index !== null) this.finish();
        await this.idle(IDLE_MS);
      } else if (index >= segments.length) {
        await this.idle(1000 * this.playlist.targetDuration);  // still recording: wait for more
        await this.reload();
      } else {
        await this.load(segments[index]);
      }
    }
  }

  /** Wait `ms`, or less when the viewer seeks. */
  idle(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => { clearTimeout(timer); resolve(); };
    });
  }

  finish() {
    const ms = this.mediaSource;
    if (ms.readyState === 'open' && !this.sourceBuffer.updating) ms.endOfStream();
  }

  async load(segment) {
    try {
      const bytes = await this.fetchBytes(segment.uri);
      if (segment.map !== this.map) await this.appendInit(segment.map, await this.fetchBytes(segment.map));
      const runStarts = this.last === null || segment.msn !== this.last + 1 || segment.discontinuity;
      if (runStarts) await this.setOffset(segment.start - firstDecodeTime(bytes, this.inits.get(this.map)));
      await this.append(bytes);
      this.last = segment.msn;
      this.loads.push(segment.msn);
      this.errors = 0;
    } catch (err) {
      if (this.stopped) return;
      this.last = null;
      this.errors += 1;
      if (this.errors >= MAX_ERRORS) throw err;
      await this.idle(250 * this.errors);
    }
  }

  async appendInit(uri, bytes) {
    if (!this.inits.has(uri)) this.inits.set(uri, timescales(bytes));
    await this.append(bytes, false);
    this.map = uri;
    this.last = null;  // a new init starts a new run
  }

  async setOffset(offset) {
    const sb = this.sourceBuffer;
    if (sb.updating) await once(sb, 'updateend');
    sb.timestampOffset = offset;
  }

  async reload() {
    try {
      this.setPlaylist(await this.fetchPlaylist(this.url));
      if (!this.sourceBuffer.updating && this.total > this.mediaSource.duration) this.mediaSource.duration = this.total;
    } catch (err) {
      if (this.stopped) return;
      this.errors += 1;
      if (this.errors >= MAX_ERRORS) throw err;
    }
  }

  async fetchPlaylist(url) {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(10000)]);
    const response = await fetch(url, {cache: 'no-store', signal});
    if (!response.ok) throw new Error(`playlist: HTTP ${response.status}`);
    return parsePlaylist(await response.text(), response.url || url);
  }

  async fetchBytes(uri) {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(20000)]);
    const response = await fetch(uri, {signal});
    if (!response.ok) throw new Error(`media: HTTP ${response.status} for ${uri}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  async append(bytes, trim = true) {
    const sb = this.sourceBuffer;
    if (trim) await this.trim();
    if (sb.updating) await once(sb, 'updateend');
    sb.appendBuffer(bytes);
    await once(sb, 'updateend');
  }

  /** Keep memory bounded: drop what is well behind the playhead and far ahead of it. */
  async trim() {
    const sb = this.sourceBuffer;
    const t = this.video.currentTime;
    const far = t + this.ahead + 2 * this.playlist.targetDuration;
    for (const [from, to] of [[0, t - BEHIND_S], [far, this.mediaSource.duration]]) {
      const buffered = sb.buffered;
      if (!buffered.length || to <= from) continue;
      const start = Math.max(from, buffered.start(0));
      const end = Math.min(to, buffered.end(buffered.length - 1));
      if (end - start < 1) continue;
      if (sb.updating) await once(sb, 'updateend');
      sb.remove(start, end);
      await once(sb, 'updateend');
    }
  }
}
