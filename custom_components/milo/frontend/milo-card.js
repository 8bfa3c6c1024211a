// Milo's face on a dashboard: the seeds' avatar and status terminal, inside Home Assistant.
// Plain JS (no build step) so the integration can serve this file as it is.
//
//   type: custom:milo-card
//   satellite: milo          # the satellite's device name (its entity ids start with it)
//   surf: [sensor.east_strand_rating]   # optional; default: every Milo surf rating sensor

// The head's servo range (docs/contracts.md): the eyes reach their edge where the head does.
const PAN_LIMIT_DEG = 80;
const TILT_UP_DEG = 45;
const TILT_DOWN_DEG = 30;
const PUPIL_REACH_X = 14;
const PUPIL_REACH_Y = 9;

// assist_satellite states, in the words the card shows.
const SATELLITE_MOODS = {
  idle: "idle",
  listening: "listening",
  processing: "thinking",
  responding: "speaking",
};

const STYLE = `
  ha-card { padding: 16px; }
  .face { display: block; width: 100%; max-width: 320px; margin: 0 auto; }
  .eye-white { fill: var(--milo-eye, #e8f4ff); transition: fill 0.3s; }
  .pupil { fill: #1b2631; transition: transform 0.4s ease-out; }
  .lid { fill: var(--ha-card-background, var(--card-background-color, #fff));
    transform-box: fill-box; transform-origin: top; transform: scaleY(0);
    animation: blink 5s infinite; }
  .closed { display: none; fill: none; stroke: var(--primary-text-color); stroke-width: 4;
    stroke-linecap: round; }
  .zzz { display: none; fill: var(--secondary-text-color); font: 600 14px sans-serif; }
  .mouth { fill: var(--primary-text-color); transform-box: fill-box;
    transform-origin: center; }
  .listening { --milo-eye: #c9f0ff; }
  .listening .eye { transform: scale(1.12); transform-box: fill-box; transform-origin: center; }
  .thinking .pupil { animation: ponder 1.6s ease-in-out infinite; }
  .speaking .mouth { animation: talk 0.35s ease-in-out infinite alternate; }
  .muted { --milo-eye: #c8c8c8; }
  .muted .lid { animation: none; transform: scaleY(0.45); }
  .sleeping .lid { animation: none; transform: scaleY(1); }
  .sleeping .closed { display: block; }
  .sleeping .zzz { display: block; animation: drift 3s ease-in-out infinite; }
  .sleeping .mouth { transform: scaleX(0.4); }
  @keyframes blink { 0%, 94%, 100% { transform: scaleY(0); } 97% { transform: scaleY(1); } }
  @keyframes ponder { 0%, 100% { transform: translate(-6px, -7px); }
    50% { transform: translate(6px, -7px); } }
  @keyframes talk { from { transform: scaleY(0.3); } to { transform: scaleY(1.6); } }
  @keyframes drift { 0%, 100% { opacity: 0.3; } 50% { opacity: 1; } }
  .status { text-align: center; margin: 8px 0; color: var(--secondary-text-color); }
  .status b { color: var(--primary-text-color); }
  .surf { list-style: none; padding: 0; margin: 8px 0; }
  .surf li { display: flex; justify-content: space-between; padding: 2px 0; }
  .rating { font-weight: 600; }
  .rating[data-rating="gnarly"] { color: var(--success-color, #2e7d32); }
  .rating[data-rating="mid"] { color: var(--warning-color, #ef6c00); }
  .rating[data-rating="trash"] { color: var(--error-color, #c62828); }
  .actions { display: flex; flex-wrap: wrap; gap: 8px; justify-content: center; }
  button { font: inherit; padding: 6px 12px; border-radius: 16px; cursor: pointer;
    border: 1px solid var(--divider-color, #ccc); background: none;
    color: var(--primary-text-color); }
  button[aria-pressed="true"] { background: var(--primary-color); color: #fff; }
  button:disabled { opacity: 0.4; cursor: default; }
  .warning { color: var(--error-color, #c62828); }
`;

const FACE = `
  <svg class="face" viewBox="0 0 200 120" role="img" aria-label="Milo's face">
    <g class="eye" id="left"><ellipse class="eye-white" cx="60" cy="50" rx="28" ry="30"/>
      <circle class="pupil" cx="60" cy="50" r="11"/>
      <rect class="lid" x="30" y="18" width="60" height="64"/>
      <path class="closed" d="M34 52 Q60 68 86 52"/></g>
    <g class="eye" id="right"><ellipse class="eye-white" cx="140" cy="50" rx="28" ry="30"/>
      <circle class="pupil" cx="140" cy="50" r="11"/>
      <rect class="lid" x="110" y="18" width="60" height="64"/>
      <path class="closed" d="M114 52 Q140 68 166 52"/></g>
    <rect class="mouth" x="85" y="98" width="30" height="5" rx="2.5"/>
    <text class="zzz" x="150" y="16">z z z</text>
  </svg>`;

class MiloCard extends HTMLElement {
  setConfig(config) {
    if (!config || typeof config.satellite !== "string" || !config.satellite.trim()) {
      throw new Error("milo-card: set `satellite:` to your Milo's device name, e.g. milo");
    }
    const surf = config.surf ?? null;
    if (surf !== null && !(Array.isArray(surf) && surf.every((id) => typeof id === "string"))) {
      throw new Error("milo-card: `surf:` is a list of sensor entity ids");
    }
    this._config = { satellite: config.satellite.trim().toLowerCase(), surf };
    this._built = false;
    if (this._hass) this._render();
  }

  set hass(hass) {
    this._hass = hass;
    if (this._config) this._render();
  }

  getCardSize() {
    return 5;
  }

  static getStubConfig() {
    return { satellite: "milo" };
  }

  // The satellite's entity whose object id starts with the device name and ends with suffix.
  _entity(domain, suffix) {
    const prefix = `${domain}.${this._config.satellite}`;
    const exact = `${prefix}_${suffix}`;
    if (this._hass.states[exact]) return exact;
    return Object.keys(this._hass.states).find(
      (id) => id.startsWith(prefix) && id.endsWith(`_${suffix}`),
    );
  }

  _state(entityId) {
    return entityId ? this._hass.states[entityId] : undefined;
  }

  _mood(ids) {
    if (this._state(ids.sleep)?.state === "on") return "sleeping";
    if (this._state(ids.mute)?.state === "on") return "muted";
    return SATELLITE_MOODS[this._state(ids.satellite)?.state] ?? "idle";
  }

  _surfSensors() {
    if (this._config.surf) return this._config.surf;
    const registry = this._hass.entities ?? {};
    return Object.values(registry)
      .filter((e) => e.platform === "milo" && e.translation_key === "rating")
      .map((e) => e.entity_id)
      .sort();
  }

  _build() {
    const root = this.shadowRoot ?? this.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${STYLE}</style>
      <ha-card>
        <div class="mood" id="mood">${FACE}</div>
        <div class="status">Milo is <b id="state"></b> &middot; in view: <b id="person"></b></div>
        <div class="warning" id="warning" hidden></div>
        <ul class="surf" id="surf"></ul>
        <div class="actions">
          <button id="centre">Centre head</button>
          <button id="nod">Nod</button>
          <button id="shake">Shake</button>
          <button id="look">Look around</button>
        </div>
      </ha-card>`;
    const device = this._config.satellite.replace(/[^a-z0-9]+/g, "_");
    const gesture = (name) => this._hass.callService("esphome", `${device}_gesture`, { name });
    root.getElementById("centre").onclick = () =>
      this._hass.callService("button", "press", { entity_id: this._ids.centre });
    root.getElementById("nod").onclick = () => gesture("nod");
    root.getElementById("shake").onclick = () => gesture("shake");
    root.getElementById("look").onclick = () =>
      this._hass.callService("switch", "toggle", { entity_id: this._ids.look });
    this._built = true;
  }

  _render() {
    if (!this._built) this._build();
    const root = this.shadowRoot;
    const ids = {
      satellite: Object.keys(this._hass.states).find((id) =>
        id.startsWith(`assist_satellite.${this._config.satellite}`),
      ),
      pan: this._entity("number", "head_pan"),
      tilt: this._entity("number", "head_tilt"),
      mute: this._entity("switch", "mute"),
      sleep: this._entity("switch", "sleep"),
      look: this._entity("switch", "look_around"),
      centre: this._entity("button", "centre_head") ?? this._entity("button", "center_head"),
      person: this._entity("sensor", "person_in_view"),
    };
    this._ids = ids;

    const mood = this._mood(ids);
    root.getElementById("mood").className = `mood ${mood}`;
    root.getElementById("state").textContent = mood;

    const pan = Number(this._state(ids.pan)?.state) || 0;
    const tilt = Number(this._state(ids.tilt)?.state) || 0;
    // Milo faces you: its head turning right (positive pan) moves its eyes to your left.
    const dx = -Math.max(-1, Math.min(1, pan / PAN_LIMIT_DEG)) * PUPIL_REACH_X;
    const reachY = tilt >= 0 ? TILT_UP_DEG : TILT_DOWN_DEG;
    const dy = -Math.max(-1, Math.min(1, tilt / reachY)) * PUPIL_REACH_Y;
    for (const pupil of root.querySelectorAll(".pupil")) {
      pupil.style.transform = mood === "thinking" ? "" : `translate(${dx}px, ${dy}px)`;
    }

    const person = this._state(ids.person)?.state;
    root.getElementById("person").textContent =
      person === undefined || person === "unavailable" || person === "unknown"
        ? "not known"
        : person === ""
          ? "nobody"
          : person === "stranger"
            ? "a stranger"
            : person;

    const warning = root.getElementById("warning");
    warning.hidden = Boolean(ids.satellite);
    warning.textContent = `No satellite named "${this._config.satellite}": check \`satellite:\``;

    const surf = root.getElementById("surf");
    surf.replaceChildren(
      ...this._surfSensors().map((id) => {
        const st = this._hass.states[id];
        const spot = this._spotName(id, st);
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.className = "spot";
        name.textContent = spot;
        const rating = document.createElement("span");
        rating.className = "rating";
        rating.dataset.rating = st?.state ?? "missing";
        rating.textContent = st ? this._hass.formatEntityState?.(st) ?? st.state : "missing";
        item.append(name, rating);
        return item;
      }),
    );

    const buttons = { centre: ids.centre, nod: ids.pan, shake: ids.pan, look: ids.look };
    for (const [button, needs] of Object.entries(buttons)) {
      root.getElementById(button).disabled = !needs;
    }
    root.getElementById("look").setAttribute(
      "aria-pressed",
      String(this._state(ids.look)?.state === "on"),
    );
  }

  // A rating sensor belongs to its spot's device; the device's name is the spot's.
  _spotName(entityId, st) {
    const entry = this._hass.entities?.[entityId];
    const device = entry?.device_id && this._hass.devices?.[entry.device_id];
    if (device) return device.name_by_user || device.name;
    return (st?.attributes.friendly_name ?? entityId).replace(/ rating$/i, "");
  }
}

// HA's frontend swaps in its own custom-element registry as it boots: a card defined before
// that is unknown to the dashboard (it showed "Configuration error" in Chromium now and
// then). Defining it once HA's root element exists lands it in the registry HA reads.
customElements.whenDefined("home-assistant").then(() => {
  if (!customElements.get("milo-card")) customElements.define("milo-card", MiloCard);
});
window.customCards = window.customCards || [];
window.customCards.push({
  type: "milo-card",
  name: "Milo",
  description: "Milo's eyes, who is in view, the surf and the head's actions.",
});
