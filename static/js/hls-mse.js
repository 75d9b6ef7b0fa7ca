// A small LL-HLS player on Media Source Extensions, for browsers without native HLS.
// It reads fMP4 (CMAF) playlists: fetches the init segment (EXT-X-MAP), starts at the newest
// complete segment, then follows the parts (EXT-X-PART) of the segment being written, using
// blocking playlist reloads (_HLS_msn/_HLS_part) when the server offers them
// (EXT-X-SERVER-CONTROL CAN-BLOCK-RELOAD=YES). One SourceBuffer takes the muxed tracks.
// A discontinuity (the publisher reconnected) restarts the player on a fresh MediaSource.

const ATTR_RE = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
const KEEP_BEHIND_S = 20;
const MAX_ERRORS = 6;

export function parseAttributes(text) {
  const attrs = {};
  for (const [, key, raw] of text.matchAll(ATTR_RE)) {
    attrs[key] = raw.startsWith('"') ? raw.slice(1, -1) : raw;
  }
  return attrs;
}

function parseByteRange(value) {
  if (!value) return null;
  const [length, offset] = value.split('@');
  return {length: Number(length), offset: offset === undefined ? null : Number(offset)};
}

/** Parse a multivariant or media playlist; URIs are resolved against `base`. */
export function parsePlaylist(text, base) {
  const lines = text.split(/\r?\n/).map((line) => line.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not an HLS playlist');
  const resolve = (uri) => new URL(uri, base).href;
  const pl = {variants: [], segments: [], parts: [], mediaSequence: 0, targetDuration: 2,
    partTarget: null, canBlock: false, map: null, endList: false, partsDiscontinuity: false};
  let msn = null;
  let pending = [];
  let extinf = null;
  let discontinuity = false;
  let variant = null;
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    if (!line.startsWith('#')) {
      if (variant) {
        pl.variants.push({...variant, uri: resolve(line)});
        variant = null;
      } else {
        if (msn === null) msn = pl.mediaSequence;
        pl.segments.push({msn, uri: resolve(line), duration: extinf || 0, parts: pending, discontinuity, map: pl.map});
        msn += 1;
        pending = [];
        extinf = null;
        discontinuity = false;
      }
      continue;
    }
    switch (tag) {
      case '#EXT-X-STREAM-INF': variant = parseAttributes(value); break;
      case '#EXT-X-MEDIA-SEQUENCE': pl.mediaSequence = Number(value); break;
      case '#EXT-X-TARGETDURATION': pl.targetDuration = Number(value); break;
      case '#EXT-X-PART-INF': pl.partTarget = Number(parseAttributes(value)['PART-TARGET']) || null; break;
      case '#EXT-X-SERVER-CONTROL': pl.canBlock = parseAttributes(value)['CAN-BLOCK-RELOAD'] === 'YES'; break;
      case '#EXT-X-MAP': pl.map = resolve(parseAttributes(value).URI); break;
      case '#EXTINF': extinf = parseFloat(value); break;
      case '#EXT-X-DISCONTINUITY': discontinuity = true; break;
      case '#EXT-X-ENDLIST': pl.endList = true; break;
      case '#EXT-X-PART': {
        const a = parseAttributes(value);
        pending.push({uri: resolve(a.URI), duration: Number(a.DURATION) || 0,
          independent: a.INDEPENDENT === 'YES', byteRange: parseByteRange(a.BYTERANGE)});
        break;
      }
      default: break;
    }
  }
  pl.nextMsn = msn === null ? pl.mediaSequence : msn;
  pl.parts = pending;
  pl.partsDiscontinuity = discontinuity;
  return pl;
}

/** The RFC 6381 codecs of an fMP4 init segment, read from its sample entries. */
export function codecsFromInit(bytes) {
  const find = (fourcc, from = 0) => {
    const codes = [...fourcc].map((c) => c.charCodeAt(0));
    for (let i = from; i + 4 <= bytes.length; i++) {
      if (bytes[i] === codes[0] && bytes[i + 1] === codes[1] && bytes[i + 2] === codes[2] && bytes[i + 3] === codes[3]) return i;
    }
    return -1;
  };
  const hex = (n) => n.toString(16).padStart(2, '0');
  const codecs = [];
  const avcC = find('avcC');
  if (avcC >= 0) codecs.push(`avc1.${hex(bytes[avcC + 5])}${hex(bytes[avcC + 6])}${hex(bytes[avcC + 7])}`);
  else if (find('hvcC') >= 0) codecs.push('hvc1.1.6.L93.B0');
  if (find('mp4a') >= 0) codecs.push('mp4a.40.2');
  else if (find('Opus') >= 0) codecs.push('opus');
  return codecs.join(',');
}

function once(target, name) {
  return new Promise((resolve) => target.addEventListener(name, resolve, {once: true}));
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, {once: true});
  });
}

export class MseHlsPlayer {
  constructor(video, url, {onFatal = () => {}, onDiscontinuity = () => {}} = {}) {
    this.video = video;
    this.url = url;
    this.onFatal = onFatal;
    this.onDiscontinuity = onDiscontinuity;
    this.abort = new AbortController();
    this.errors = 0;
    this.appended = false;
  }

  stop() {
    this.abort.abort();
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
    let codecs = '';
    if (pl.variants.length) {
      const variant = pl.variants[0];
      codecs = variant.CODECS || '';
      this.url = variant.uri;
      pl = await this.fetchPlaylist(this.url);
    }
    this.playlist = pl;
    this.mediaSource = new MediaSource();
    this.objectUrl = URL.createObjectURL(this.mediaSource);
    this.video.src = this.objectUrl;
    await once(this.mediaSource, 'sourceopen');
    const mapUrl = pl.map || (pl.segments[0] && pl.segments[0].map);
    if (!mapUrl) throw new Error('the playlist has no EXT-X-MAP init segment');
    const init = await this.fetchBytes({uri: mapUrl});
    codecs = codecs || codecsFromInit(init);
    const type = `video/mp4; codecs="${codecs}"`;
    if (!MediaSource.isTypeSupported(type)) throw new Error(`this browser cannot play ${type}`);
    this.sourceBuffer = this.mediaSource.addSourceBuffer(type);
    this.map = mapUrl;
    await this.append(init);
    // Start at the newest complete segment, unless the publisher reconnected inside the
    // segment being written: then at its first part, the start of the newest timeline.
    const last = pl.segments[pl.segments.length - 1];
    const newTimeline = pl.partsDiscontinuity && pl.parts.length > 0;
    this.next = last && !newTimeline ? {msn: last.msn, part: 0} : {msn: pl.nextMsn, part: 0};
  }

  async loop() {
    while (!this.stopped) {
      const step = this.nextStep(this.playlist);
      if (step === 'restart') {
        this.onDiscontinuity();
        return;
      }
      if (step) {
        await this.load(step);
        continue;
      }
      if (this.playlist.endList) {
        if (this.mediaSource.readyState === 'open') this.mediaSource.endOfStream();
        return;
      }
      await this.reload();
    }
  }

  /** What to fetch next ({uri, byteRange}), 'restart', or null to wait for a newer playlist. */
  nextStep(pl) {
    const next = this.next;
    const last = pl.segments[pl.segments.length - 1];
    if (next.msn < pl.mediaSequence && last) {
      this.next = {msn: last.msn, part: 0};  // fell out of the window: back to the live edge
      return this.nextStep(pl);
    }
    const segment = pl.segments.find((s) => s.msn === next.msn);
    if (segment) {
      if (next.part === 0 && segment.discontinuity && this.appended) return 'restart';
      if (next.part === 0) {
        this.next = {msn: next.msn + 1, part: 0};
        return segment;
      }
      if (next.part < segment.parts.length) {
        this.next = {msn: next.msn, part: next.part + 1};
        return segment.parts[next.part];
      }
      this.next = {msn: next.msn + 1, part: 0};
      return this.nextStep(pl);
    }
    if (next.msn === pl.nextMsn && next.part < pl.parts.length) {
      if (next.part === 0 && pl.partsDiscontinuity && this.appended) return 'restart';
      this.next = {msn: next.msn, part: next.part + 1};
      return pl.parts[next.part];
    }
    return null;
  }

  async load(item) {
    try {
      const bytes = await this.fetchBytes(item);
      await this.append(bytes);
      this.errors = 0;
    } catch (err) {
      if (this.stopped) return;
      this.errors += 1;
      if (this.errors >= MAX_ERRORS) throw err;
      await sleep(250 * this.errors, this.abort.signal);
      await this.reload();
    }
  }

  async reload() {
    const pl = this.playlist;
    let url = this.url;
    if (pl.canBlock) {
      const sep = url.includes('?') ? '&' : '?';
      url += `${sep}_HLS_msn=${this.next.msn}&_HLS_part=${this.next.part}`;
    } else {
      await sleep(1000 * (pl.partTarget || pl.targetDuration / 2), this.abort.signal);
    }
    try {
      this.playlist = await this.fetchPlaylist(url, 1000 * (3 * pl.targetDuration + 1));
      this.errors = 0;
    } catch (err) {
      if (this.stopped) return;
      this.errors += 1;
      if (this.errors >= MAX_ERRORS) throw err;
      await sleep(500, this.abort.signal);
    }
  }

  async fetchPlaylist(url, timeoutMs = 10000) {
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]);
    const response = await fetch(url, {cache: 'no-store', signal});
    if (!response.ok) throw new Error(`playlist: HTTP ${response.status}`);
    return parsePlaylist(await response.text(), response.url || url);
  }

  async fetchBytes({uri, byteRange}) {
    const headers = {};
    if (byteRange && byteRange.offset !== null) {
      headers.Range = `bytes=${byteRange.offset}-${byteRange.offset + byteRange.length - 1}`;
    }
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(10000)]);
    const response = await fetch(uri, {headers, signal});
    if (!response.ok) throw new Error(`media: HTTP ${response.status} for ${uri}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  async append(bytes) {
    const sb = this.sourceBuffer;
    if (sb.updating) await once(sb, 'updateend');
    this.trim();
    if (sb.updating) await once(sb, 'updateend');
    try {
      sb.appendBuffer(bytes);
    } catch (err) {
      if (err.name !== 'QuotaExceededError') throw err;
      this.trim(2);
      if (sb.updating) await once(sb, 'updateend');
      sb.appendBuffer(bytes);
    }
    await once(sb, 'updateend');
    if (!this.appended && this.video.buffered.length) {
      this.appended = true;
      this.video.currentTime = this.video.buffered.start(0);
    }
  }

  /** Drop what is well behind the playhead, so memory stays bounded. */
  trim(keep = KEEP_BEHIND_S) {
    const sb = this.sourceBuffer;
    const buffered = sb.buffered;
    if (sb.updating || !buffered.length) return;
    const cut = this.video.currentTime - keep;
    if (cut > buffered.start(0) + 1) sb.remove(buffered.start(0), cut);
  }
}
