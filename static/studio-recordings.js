// The studio's recordings card (owner only): each recorded show of the room with its replay
// link, an MP4 export made in the background (GET /api/shows/{id}/recording.mp4 starts it; its
// progress comes with GET /api/shows/{id}/recording), keep past retention, and delete.

import {api, roomPath} from './js/api.js';
import {$, el, say, show} from './js/dom.js';

const POLL_MS = 1000;

function minutes(seconds) {
  const s = Math.round(seconds || 0);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function recordingItem(info, recording, onGone) {
  const base = `/api/shows/${encodeURIComponent(info.id)}`;
  const status = el('p', {class: 'status', role: 'status', hidden: true});
  const progress = el('progress', {max: '1', value: '0', hidden: true, 'aria-label': `Export of ${info.title}`});
  const download = el('a', {href: `${base}/recording.mp4`, class: 'download', hidden: true, text: 'Download MP4'});
  const exportButton = el('button', {type: 'button', text: 'Export MP4'});
  const keep = el('input', {type: 'checkbox', checked: recording.kept || null});
  const remove = el('button', {type: 'button', class: 'secondary', text: 'Delete'});
  const follow = async () => {
    const {export: job} = await api(`${base}/recording`);
    if (!job) return;
    show(progress, true);
    progress.value = job.progress;
    if (job.state === 'done') {
      show(download, true);
      say(status, 'The MP4 is ready.');
    } else if (job.state === 'failed') {
      say(status, job.error || 'The export failed.', 'error');
    } else {
      say(status, `Exporting… ${Math.round(job.progress * 100)}%`);
      setTimeout(() => follow().catch(() => {}), POLL_MS);
    }
  };
  exportButton.addEventListener('click', async () => {
    try {  // HEAD starts the export without downloading a finished file
      const answer = await fetch(`${base}/recording.mp4`, {method: 'HEAD', credentials: 'same-origin'});
      if (answer.status === 409) {
        say(status, 'The show is still being recorded: export it once it ended.', 'error');
        return;
      }
      if (!answer.ok) throw new Error(`The export could not start (${answer.status}).`);
      await follow();
    } catch (err) {
      say(status, err.message, 'error');
    }
  });
  keep.addEventListener('change', async () => {
    try {
      await api(`${base}/recording/keep`, {method: 'PUT', body: {keep: keep.checked}});
      say(status, keep.checked ? 'Kept: retention will not delete it.' : 'It will be deleted when its time is up.');
    } catch (err) {
      say(status, err.message, 'error');
    }
  });
  remove.addEventListener('click', async () => {
    if (!confirm(`Delete the recording of ${info.title}? Nobody can replay it afterwards.`)) return;
    try {
      await api(`${base}/recording`, {method: 'DELETE'});
      onGone();
    } catch (err) {
      say(status, err.message, 'error');
    }
  });
  const state = recording.state === 'recording' ? 'recording now' : recording.state;
  const item = el('li', {class: 'recording', dataset: {show: info.id}},
    el('strong', {text: info.title}), ` ${minutes(recording.duration)} · ${state} `,
    el('a', {href: `/replay/${encodeURIComponent(info.id)}`, text: 'Replay'}),
    el('div', {class: 'buttons'}, exportButton, el('label', {}, keep, ' Keep'), remove),
    progress, download, status);
  if (recording.export) follow().catch(() => {});
  return item;
}

export async function recordingsPanel(room) {
  const list = $('#recordings');
  show($('#recordings-card'));
  let shows = [];
  try {
    ({shows} = await api(roomPath(room.slug, '/shows')));
  } catch {
    shows = [];
  }
  let count = 0;
  for (const item of shows) {
    let recording;
    try {
      recording = await api(`/api/shows/${encodeURIComponent(item.id)}/recording`);
    } catch {
      continue;  // 404: not recorded
    }
    count += 1;
    const node = recordingItem(item, recording, () => {
      node.remove();
      show($('#recordings-empty'), list.children.length === 0);
    });
    list.append(node);
  }
  show($('#recordings-empty'), count === 0);
}
