// In-memory state of the mock provider: the request log, the inbox and the
// counters. Both lists are bounded rings so a benchmark of millions of
// messages keeps memory flat; the counters never drop anything.

export const MAX_REQUESTS = 10_000;
export const MAX_INBOX = 1_000;

// Fixed-capacity ring that keeps the newest `capacity` items.
export class Ring {
  constructor(capacity) {
    this.capacity = capacity;
    this.clear();
  }

  clear() {
    this.items = new Array(this.capacity);
    this.start = 0;
    this.length = 0;
  }

  push(item) {
    if (this.length < this.capacity) {
      this.items[(this.start + this.length) % this.capacity] = item;
      this.length++;
    } else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  // Oldest first.
  toArray() {
    const out = new Array(this.length);
    for (let i = 0; i < this.length; i++) {
      out[i] = this.items[(this.start + i) % this.capacity];
    }
    return out;
  }
}

// The first run of 4 to 10 digits that is not part of a longer run, so a
// phone number inside the text is not mistaken for a code.
const CODE_RE = /(?<!\d)\d{4,10}(?!\d)/;

export function extractCode(text) {
  const m = CODE_RE.exec(String(text ?? ''));
  return m ? m[0] : null;
}

// Providers differ on the leading plus (Vonage and Plivo want bare digits);
// the inbox shows every number the same way so one phone has one spelling.
export function normalizePhone(to) {
  const s = String(to ?? '').trim();
  return /^\d{6,15}$/.test(s) ? `+${s}` : s;
}

export class Stats {
  constructor() {
    this.reset();
  }

  reset() {
    this.total = 0;
    this.by_provider = Object.create(null);
    this.by_status = Object.create(null);
  }

  countRequest(provider) {
    this.total++;
    this.by_provider[provider] = (this.by_provider[provider] ?? 0) + 1;
  }

  // `outcome` is an HTTP status, or "drop" / "timeout" when nothing was answered.
  countOutcome(outcome) {
    this.by_status[outcome] = (this.by_status[outcome] ?? 0) + 1;
  }

  toJSON() {
    return { total: this.total, by_provider: { ...this.by_provider }, by_status: { ...this.by_status } };
  }
}

export class Inbox {
  constructor(capacity = MAX_INBOX) {
    this.ring = new Ring(capacity);
    this.nextId = 1;
  }

  // `from` is the sender the message came from (a reply goes back to it);
  // `callback` what the message asked for: status callback URL and validity.
  add(provider, to, text, time, { from = null, callback = null } = {}) {
    const entry = {
      id: this.nextId++,
      time,
      provider,
      to: normalizePhone(to),
      from: from == null || from === '' ? null : normalizePhone(from),
      text: String(text ?? ''),
      code: extractCode(text),
      callback_url: callback?.url ?? null,
      validity_s: callback?.validity_s ?? null,
      expires_at: callback?.expires_at ?? null,
    };
    this.ring.push(entry);
    return entry;
  }

  clear() {
    this.ring.clear();
  }

  get(id) {
    return this.ring.toArray().find((e) => e.id === id) ?? null;
  }

  // Newest first, optionally only one phone number and at most `limit` entries.
  list({ to, limit } = {}) {
    const all = this.ring.toArray().reverse();
    const wanted = to ? normalizePhone(to) : null;
    const picked = wanted ? all.filter((e) => e.to === wanted) : all;
    return limit > 0 ? picked.slice(0, limit) : picked;
  }
}

export class RequestLog {
  constructor(capacity = MAX_REQUESTS) {
    this.ring = new Ring(capacity);
    this.nextSeq = 1;
  }

  add(entry) {
    entry.seq = this.nextSeq++;
    this.ring.push(entry);
    return entry;
  }

  clear() {
    this.ring.clear();
  }

  list({ provider, since } = {}) {
    let all = this.ring.toArray();
    if (provider) all = all.filter((e) => e.provider === provider);
    if (since != null) all = all.filter((e) => e.seq > since);
    return all;
  }
}
