// The live board: fetches board.json twice a second and redraws the
// tiles whose state changed. No framework; text goes in as text.
"use strict";
(function () {
  const board = document.getElementById("board");
  const status = document.getElementById("board-status");
  const src = board.dataset.src;
  const tiles = new Map();
  const lampText = { idle: "idle", ringing: "ringing", busy: "on the phone",
                     dnd: "do not disturb", offline: "offline" };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function draw(u) {
    const key = JSON.stringify(u);
    let t = tiles.get(u.user);
    if (t && t.key === key) return;
    const tile = el("section", "tile");
    tile.id = "tile-" + u.user;
    tile.dataset.lamp = u.lamp;
    const h = el("h2");
    const lamp = el("span", "lamp " + u.lamp);
    lamp.title = lampText[u.lamp] || u.lamp;
    lamp.setAttribute("role", "img");
    lamp.setAttribute("aria-label", lamp.title);
    h.append(lamp, el("span", "", u.name || u.user));
    tile.append(h, el("div", "state", lampText[u.lamp] || u.lamp),
                el("div", "note", u.note || ""));
    const ul = el("ul", "devices");
    for (const d of u.devices)
      ul.append(el("li", d.reachable ? "" : "unreachable",
                   (d.user_agent || "device") + " · " + d.received));
    if (u.elsewhere)
      ul.append(el("li", "elsewhere", u.elsewhere === 1 ?
                   "1 device on another node" :
                   u.elsewhere + " devices on other nodes"));
    tile.append(ul);
    if (t) board.replaceChild(tile, t.node); else board.append(tile);
    tiles.set(u.user, { key: key, node: tile });
  }

  async function tick() {
    try {
      const res = await fetch(src, { credentials: "same-origin",
                                     cache: "no-store" });
      if (res.status === 401) { location.reload(); return; }
      const data = await res.json();
      const seen = new Set();
      for (const u of data.users) { draw(u); seen.add(u.user); }
      for (const [name, t] of tiles)
        if (!seen.has(name)) { t.node.remove(); tiles.delete(name); }
      const missing = [];
      if (!data.synced.reg) missing.push("registrations");
      if (!data.synced.pres) missing.push("presence");
      status.textContent = missing.length ?
        "Not answering: " + missing.join(", ") : "";
      board.dataset.updated = String(Date.now());
    } catch (e) {
      status.textContent = "The appliance does not answer.";
    }
    setTimeout(tick, 500);
  }
  tick();
})();
