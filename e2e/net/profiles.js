// Network profiles for the end-to-end suite, applied through CDP to every target of a device that makes
// requests: the page session (which also covers the page's dedicated worker, where the sync loop runs) and
// each service worker, which is its own target and needs its own session (../shared/reference/e2e-testing.md
// §1). Flapping toggles offline/online at seeded intervals of 0.5 to 10 s and records the schedule, so a
// failure can print it. Packet loss is not a CDP feature for HTTP: the profiles name the share of requests the
// lossy proxy (lossy-proxy.mjs) faults, and the test configures the proxy with it.

/** RTT in ms, bandwidth in kbit/s each way (null: unthrottled), faulty share of sync requests at the proxy. */
export const PROFILES = {
  fast: { latencyMs: 0, kbps: null, share: 0 },
  '3g': { latencyMs: 300, kbps: 750, share: 0.05 },
  satellite: { latencyMs: 800, kbps: 1000, share: 0.15 },
  flapping: { latencyMs: 40, kbps: null, share: 0.05, flap: { minMs: 500, maxMs: 10_000 } },
};

/** Network.emulateNetworkConditions parameters: latency is added per request; throughput is in bytes/s. */
export function conditions(profile, offline = false) {
  const bytesPerSecond = profile.kbps ? (profile.kbps * 1000) / 8 : -1;
  return { offline, latency: profile.latencyMs, downloadThroughput: bytesPerSecond, uploadThroughput: bytesPerSecond };
}

/** One device's network: CDP sessions on its page and on its service workers, and the flapping loop. */
export class NetworkShaper {
  /** @param {string} label  names the device in the flap schedule */
  constructor(label) {
    this.label = label;
    this.page = null;
    this.cdp = null;
    this.workers = new Map(); // service-worker targetId -> { sessionId }
    this.profile = PROFILES.fast;
    this.offline = false;
    this.override = null;
    this.flapping = null;
    this.flaps = []; // { atMs, device, offline, forMs }
    this.started = Date.now();
    this.messageId = 0;
    this.pending = new Map();
  }

  /** Attaches to a (new) page of `context`: after every launch, relaunch or page replacement. */
  async attach(context, page) {
    this.page = page;
    this.workers.clear();
    this.cdp = await context.newCDPSession(page);
    this.cdp.on('Target.receivedMessageFromTarget', ({ message }) => {
      const m = JSON.parse(message);
      const waiter = this.pending.get(m.id);
      if (waiter) {
        this.pending.delete(m.id);
        if (m.error) waiter.reject(new Error(`${m.error.message} (${waiter.method})`));
        else waiter.resolve(m.result);
      }
    });
    await this.cdp.send('Network.enable');
    await this.push();
  }

  /** Forgets the sessions of a page that crashed or a browser that died (nothing to reset there). */
  detach() {
    this.page = null;
    this.cdp = null;
    this.workers.clear();
    for (const w of this.pending.values()) w.reject(new Error('target gone'));
    this.pending.clear();
  }

  /** Sends a command to a service worker over the page session (Target.sendMessageToTarget, flatten: false). */
  sendToWorker(sessionId, method, params) {
    const id = ++this.messageId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
    });
  }

  /** Attaches to service workers that appeared since the last call (a new SW or a restarted one). */
  async discoverServiceWorkers() {
    const { targetInfos } = await this.cdp.send('Target.getTargets');
    const origin = new URL(this.page.url()).origin;
    for (const t of targetInfos) {
      if (t.type !== 'service_worker' || !t.url.startsWith(origin) || this.workers.has(t.targetId)) continue;
      const { sessionId } = await this.cdp.send('Target.attachToTarget', { targetId: t.targetId, flatten: false });
      this.workers.set(t.targetId, { sessionId, url: t.url });
      await this.sendToWorker(sessionId, 'Network.enable', {});
    }
    for (const id of [...this.workers.keys()]) {
      if (!targetInfos.some((t) => t.targetId === id)) this.workers.delete(id);
    }
  }

  /**
   * Sends the current profile and offline state (or the override, while one is set) to the page and every
   * service worker. While the device is crashed there is no session: the state is kept and sent on the next
   * attach, and a session that dies during the call is not an error.
   */
  async push() {
    const cdp = this.cdp;
    if (!cdp) return;
    const params = this.override ?? conditions(this.profile, this.offline);
    try {
      await cdp.send('Network.emulateNetworkConditions', params);
      await this.discoverServiceWorkers();
      for (const { sessionId } of this.workers.values()) {
        await this.sendToWorker(sessionId, 'Network.emulateNetworkConditions', params);
      }
    } catch (error) {
      if (this.cdp === cdp && !/closed|target gone|Target crashed/i.test(String(error?.message))) throw error;
    }
  }

  /**
   * Overrides the device's conditions (e.g. online and unthrottled while a crashed device reloads) without
   * forgetting them: apply() and setOffline() keep recording what the scenario asks, and clearOverride()
   * sends that.
   */
  async setOverride(profile, offline = false) {
    this.override = conditions(typeof profile === 'string' ? PROFILES[profile] : profile, offline);
    await this.push();
  }

  async clearOverride() {
    this.override = null;
    await this.push();
  }

  /** Applies a profile by name or value (flapping starts separately: startFlapping). */
  async apply(profile) {
    this.profile = typeof profile === 'string' ? PROFILES[profile] : profile;
    await this.push();
  }

  async setOffline(offline) {
    this.offline = offline;
    await this.push();
  }

  /**
   * Alternates offline and online, each phase lasting a seeded 0.5-10 s, until stopFlapping(). The phases are
   * recorded in `flaps` as they start.
   */
  startFlapping(random, { minMs = 500, maxMs = 10_000, startOffline = true } = {}) {
    let offline = startOffline;
    const state = { stopped: false, timer: null };
    this.flapping = state;
    const step = async () => {
      if (state.stopped) return;
      const forMs = Math.round(random.between(minMs, maxMs));
      this.flaps.push({ atMs: Date.now() - this.started, device: this.label, offline, forMs });
      await this.setOffline(offline).catch(() => {}); // the page may be crashing right now: the next step retries
      offline = !offline;
      if (!state.stopped) state.timer = setTimeout(step, forMs);
    };
    step();
  }

  async stopFlapping() {
    if (!this.flapping) return;
    this.flapping.stopped = true;
    clearTimeout(this.flapping.timer);
    this.flapping = null;
    await this.setOffline(false).catch(() => {});
  }

  /** Back to an unthrottled, online network on every session. */
  async reset() {
    await this.stopFlapping();
    this.override = null;
    this.profile = PROFILES.fast;
    this.offline = false;
    await this.push();
  }

  /** The flap phases, one line each, for a failure message. */
  schedule() {
    return this.flaps.map((f) => `+${f.atMs}ms ${f.device} ${f.offline ? 'offline' : 'online'} for ${f.forMs}ms`);
  }
}
