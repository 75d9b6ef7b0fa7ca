// The overlay's alert queue: first in, first out, one alert on screen at a time for
// `displayMs`, then `gapMs` of nothing. An alert id is shown at most once, whatever the
// socket replays (reconnects, a redelivered event); amounts below `min` show nothing.

const MAX_QUEUED = 100;
const MAX_SEEN = 5000;

export class AlertQueue {
  /** show(alert) and hide(alert) draw; alerts are {id, amount, ...} */
  constructor({displayMs, gapMs, min = 0, show, hide}) {
    Object.assign(this, {displayMs, gapMs, min, show, hide});
    this.queue = [];
    this.seen = new Set();
    this.shown = [];  // ids in the order they went on screen (for the tests and the console)
    this.current = null;
    this.resting = false;
  }

  /** Queue an alert unless its id was seen before or it is below the threshold. */
  offer(alert) {
    if (this.seen.has(alert.id)) return false;
    this.remember(alert.id);
    if (Number(alert.amount) < this.min) return false;
    this.queue.push(alert);
    if (this.queue.length > MAX_QUEUED) this.queue.shift();
    this.pump();
    return true;
  }

  /** Ids that must never alert (what a snapshot already holds). */
  remember(id) {
    this.seen.add(id);
    if (this.seen.size > MAX_SEEN) this.seen.delete(this.seen.values().next().value);
  }

  /** A refunded tip: its alert, if still queued, never shows. */
  drop(id) {
    this.remember(id);
    this.queue = this.queue.filter((alert) => alert.id !== id);
  }

  /** Change a queued or showing alert (a hidden message); returns the alert if found. */
  update(id, change) {
    const alert = this.current && this.current.id === id ? this.current : this.queue.find((a) => a.id === id);
    if (alert) change(alert);
    return alert || null;
  }

  pump() {
    if (this.current || this.resting) return;
    const next = this.queue.shift();
    if (!next) return;
    this.current = next;
    this.shown.push(next.id);
    this.show(next);
    setTimeout(() => this.finish(next), this.displayMs);
  }

  finish(alert) {
    this.hide(alert);
    this.current = null;
    this.resting = true;
    setTimeout(() => {
      this.resting = false;
      this.pump();
    }, this.gapMs);
  }
}
