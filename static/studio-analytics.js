// The studio's live show dashboard: for the room's current show, viewers now (and per
// latency class), a viewers-over-time chart (server-rendered SVG), chat rate, tips and
// revenue so far, and a warning when the bitrate falls or the keyframe interval is too long
// for LL-HLS. Below it, every show of the room with a link to its analytics page.
// Figures come from GET /api/shows/{id}/analytics, polled every sample period.

import {api, roomPath} from './js/api.js';
import {$, clear, el, show} from './js/dom.js';
import {chartUrl, duration, facts, loadAnalytics, revenueFacts} from './js/analytics.js';

const LEAD_S = 3600;  // a stream up to an hour early belongs to the show (server/analytics.py)

export function currentShow(shows, now = Date.now() / 1000) {
  const open = shows.filter((s) => s.starts_at_ts <= now + LEAD_S && (s.ends_at_ts === null || s.ends_at_ts > now));
  open.sort((a, b) => b.starts_at_ts - a.starts_at_ts);
  return open[0] || null;
}

/** Warnings from the health series: the bitrate fell to under half of the show's usual, or
 * the keyframe interval is longer than LL-HLS can use well. */
export function warnings(health) {
  const notes = [];
  const rates = health.map((h) => h.bitrate).filter((b) => b);
  const last = health[health.length - 1];
  if (rates.length >= 6 && last && last.bitrate) {
    const usual = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)];
    if (last.bitrate < usual / 2) {
      notes.push(`Bitrate fell to ${Math.round(last.bitrate / 1000)} kb/s (usually ${Math.round(usual / 1000)} kb/s): check the upload or OBS.`);
    }
  }
  if (last && last.keyframe_ms && last.keyframe_ms > 4000) {
    notes.push(`Keyframe interval ${(last.keyframe_ms / 1000).toFixed(1)} s is too long for LL-HLS: set 2 s in OBS.`);
  }
  return notes;
}

function ts(iso) {
  return iso ? Date.parse(iso) / 1000 : null;
}

function renderShows(room, shows) {
  const list = $('#show-list');
  clear(list);
  for (const s of shows) {
    const href = `/studio/${encodeURIComponent(room.slug)}/shows/${encodeURIComponent(s.id)}`;
    list.append(el('li', {}, el('a', {href, text: s.title}), ` · ${new Date(s.starts_at_ts * 1000).toLocaleString()}`));
  }
  if (!shows.length) list.append(el('li', {text: 'No shows yet.'}));
}

function render(showId, data) {
  const now = data.audience.now || {webrtc: 0, hls: 0};
  $('#dash-viewers').textContent = String(now.webrtc + now.hls);
  $('#dash-classes').textContent = `${now.webrtc} WebRTC · ${now.hls} LL-HLS`;
  const pairs = [
    ['Peak', String(data.audience.peak.viewers)],
    ['Unique viewers', String(data.audience.unique_viewers)],
    ['Watch time', duration(data.audience.watch_s)],
    ['Chat', `${data.engagement.chat_messages} (${data.engagement.chat_per_minute} a minute)`],
  ];
  if ('revenue' in data) pairs.push(...revenueFacts(data.revenue));
  facts($('#dash-facts'), pairs);
  const notes = $('#dash-warnings');
  clear(notes);
  for (const line of warnings(data.series.health)) notes.append(el('li', {class: 'warning', text: line}));
  $('#dash-chart').src = chartUrl(showId, 'viewers');
  $('#dash-link').href = `/studio/${encodeURIComponent(data.show.room)}/shows/${encodeURIComponent(showId)}`;
}

export function showDashboard(room) {
  const card = $('#show-dashboard');
  const poll = async () => {
    let period = 10;
    try {
      const shows = (await api(roomPath(room.slug, '/shows'))).shows
        .map((s) => ({...s, starts_at_ts: ts(s.starts_at), ends_at_ts: ts(s.ends_at)}));
      renderShows(room, shows);
      show($('#shows-card'));
      const current = currentShow(shows);
      show(card, current !== null);
      if (current) {
        $('#dash-title').textContent = current.title;
        const data = await loadAnalytics(current.id);
        period = data.sample_s || period;
        render(current.id, data);
      }
    } catch {
      // the next poll tries again
    }
    setTimeout(poll, Math.max(2, period) * 1000);
  };
  poll();
}
