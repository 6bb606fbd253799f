/* postflow live dashboard: one websocket, typed events, plain DOM. Protocol: docs/realtime.md. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("live-config").textContent);
  const statuses = {};
  config.statuses.forEach((s) => (statuses[s.value] = s));
  const handlers = {};
  let lastId = config.last_id; // the newest event id this page has applied
  const received = []; // [{id, kind, t}] for tests and benches: t = epoch ms once the DOM was updated

  /** Register a handler for one event kind: fn(payload, message). */
  function on(kind, fn) {
    (handlers[kind] = handlers[kind] || []).push(fn);
  }
  window.postflowLive = { on, received, lastId: () => lastId };

  // --- the socket ---------------------------------------------------------------------------

  let retries = 0;
  let pinger = null;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/dashboard/`);
    let opened = false;
    setState("connecting");
    socket.onopen = () => {
      opened = true;
      retries = 0;
      socket.send(JSON.stringify({ type: "resume", last_id: lastId }));
      pinger = setInterval(() => socket.readyState === 1 && socket.send('{"type":"ping"}'), 25000);
    };
    socket.onmessage = (message) => receive(JSON.parse(message.data));
    socket.onclose = (event) => {
      clearInterval(pinger);
      setState("offline");
      // 4403: the server found the session no longer staff (signed out, say) at a ping.
      if (event.code === 4403 || (!opened && retries >= 2)) checkSession();
      const delay = Math.min(10000, 500 * 2 ** retries++) * (0.5 + Math.random() / 2);
      setTimeout(connect, delay);
    };
  }

  function checkSession() {
    // A refused handshake is often a session that ended: the page itself then redirects to login.
    fetch(location.href, { method: "HEAD", credentials: "same-origin" }).then((r) => r.redirected && location.reload());
  }

  function receive(message) {
    if (message.type === "event") {
      if (message.id <= lastId) return; // seen already (replayed after a reconnect)
      lastId = message.id;
      (handlers[message.kind] || []).forEach((fn) => {
        try {
          fn(message.payload, message);
        } catch (error) {
          console.error("postflow live:", message.kind, error);
        }
      });
      received.push({ id: message.id, kind: message.kind, t: Date.now() });
      if (received.length > 2000) received.splice(0, 1000);
    } else if (message.type === "ready") {
      setState("live");
    } else if (message.type === "reload") {
      location.reload(); // missed more than can be replayed: start again from the server's figures
    }
  }

  function setState(state) {
    const el = document.getElementById("live-status");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = { live: "live", connecting: "connecting…", offline: "reconnecting…" }[state] || state;
  }

  // --- drawing ------------------------------------------------------------------------------

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const setText = (selector, text) => $$(selector).forEach((el) => (el.textContent = text));

  function draw(key, counts) {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    let weighted = 0;
    for (const [status, n] of Object.entries(counts)) weighted += (statuses[status] ? statuses[status].weight : 0) * n;
    $$(`[data-bar="${key}"] > [data-status]`).forEach((seg) => {
      const n = counts[seg.dataset.status] || 0;
      seg.style.width = `${total ? (100 * n) / total : 0}%`;
      seg.title = `${statuses[seg.dataset.status].label}: ${n}`;
    });
    setText(`[data-pct="${key}"]`, `${total ? Math.round((100 * weighted) / total) : 0} %`);
    setText(`[data-total="${key}"]`, String(total));
    setText(`[data-delivered="${key}"]`, String(counts.final_delivery || 0));
    setText(`[data-approved="${key}"]`, String((counts.review_approved || 0) + (counts.final_delivery || 0)));
    if (key !== "all") return;
    for (const [status, n] of Object.entries(counts)) setText(`[data-count="all:${status}"]`, String(n));
    const perStage = {};
    config.statuses.forEach((s) => (perStage[s.stage] = (perStage[s.stage] || 0) + (counts[s.value] || 0)));
    for (const [stage, n] of Object.entries(perStage)) {
      setText(`[data-stage-count="${stage}"]`, String(n));
      $$(`[data-stage-bar="${stage}"]`).forEach((el) => (el.style.width = `${total ? (100 * n) / total : 0}%`));
    }
  }

  function drawProject() {
    const all = {};
    config.statuses.forEach((s) => (all[s.value] = 0));
    for (const counts of Object.values(config.scenes)) for (const [s, n] of Object.entries(counts)) all[s] += n;
    draw("all", all);
  }

  function drawSceneFromRows() {
    const counts = {};
    config.statuses.forEach((s) => (counts[s.value] = 0));
    $$("tr[data-shot]:not(.omitted) [data-shot-status]").forEach((el) => (counts[el.dataset.status] += 1));
    draw("scene", counts);
  }

  function flash(row) {
    if (!row) return;
    row.classList.remove("flash");
    void row.offsetWidth; // restart the animation
    row.classList.add("flash");
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    children.forEach((child) => node.append(child));
    return node;
  }

  function localTime(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  // --- panels refreshed from the server -------------------------------------------------------

  const pending = {};
  function refreshPanel(name, delay = 250) {
    const panel = $(`[data-panel="${name}"]`);
    if (!panel || pending[name]) return;
    pending[name] = setTimeout(() => {
      fetch(panel.dataset.url, { credentials: "same-origin" })
        .then((r) => (r.ok && !r.redirected ? r.text() : null))
        .then((html) => html !== null && (panel.innerHTML = html))
        .finally(() => delete pending[name]);
    }, delay);
  }
  $$("[data-panel][data-every]").forEach((panel) =>
    setInterval(() => refreshPanel(panel.dataset.panel, 0), 1000 * Number(panel.dataset.every)),
  );

  // --- event kinds ----------------------------------------------------------------------------

  on("shot.status", (p, message) => {
    const fresh = p.event_id > (config.watermark || 0); // not yet in the figures the page was drawn with
    const moved = p.kind !== "refused"; // a refused automatic move is news, but the status stayed
    if (moved && config.page === "index" && fresh && !p.omitted && p.project_id === config.project_id) {
      const counts = config.scenes[p.scene_id];
      if (counts) {
        if (p.from && counts[p.from] > 0) counts[p.from] -= 1;
        counts[p.to] = (counts[p.to] || 0) + 1;
        draw(p.scene_id, counts);
        drawProject();
        flash($(`tr[data-scene="${p.scene_id}"]`));
      }
    }
    if (moved && config.page === "scene") {
      const pill = $(`[data-shot-status="${p.shot_id}"]`);
      if (pill) {
        pill.dataset.status = p.to;
        pill.className = `pill st-${p.to}`;
        pill.textContent = statuses[p.to].label;
        $$(`tr[data-shot="${p.shot_id}"] select[name="status"]`).forEach((select) => (select.value = p.to));
        flash(pill.closest("tr"));
        drawSceneFromRows();
      }
    }
    const feed = $("[data-activity]");
    if (feed && fresh) addActivity(feed, p, message);
  });

  function addActivity(feed, p, message) {
    $$(".empty", feed).forEach((node) => node.remove());
    const shotUrl = feed.dataset.shotUrl.replace(/0\/$/, `${p.shot_id}/`);
    const from = p.from ? statuses[p.from].label : "∅";
    const row = el(
      "li",
      { class: `event ev-${p.kind}`, "data-event-id": String(p.event_id) },
      el("time", { datetime: message.at }, localTime(message.at)),
      el("a", { href: shotUrl }, p.shot),
      " ",
      el("span", { class: `pill st-${p.from || "none"}` }, from),
      " → ",
      el("span", { class: `pill st-${p.to}` }, statuses[p.to].label),
    );
    if (p.kind === "override") row.append(" ", el("span", { class: "badge" }, "forced"));
    if (p.kind === "refused") row.append(" ", el("span", { class: "badge bad" }, "refused"));
    row.append(el("span", { class: "actor" }, p.actor));
    if (p.reason) row.append(" ", el("span", { class: "reason" }, p.reason));
    feed.prepend(row);
    $$("li", feed).slice(50).forEach((node) => node.remove());
  }

  on("render.state", () => refreshPanel("renders"));

  // Settling renders: the panel says how many seconds were left when the server drew it; the page counts
  // down from when it received it (the browser's clock may differ from the server's) until the next refresh.
  function countdown() {
    $$("[data-countdown]").forEach((node) => {
      if (!node.dataset.deadline) node.dataset.deadline = String(Date.now() + 1000 * Number(node.dataset.left));
      const left = Math.ceil((Number(node.dataset.deadline) - Date.now()) / 1000);
      node.textContent = left > 0 ? `settling, ${left} s left` : "settling: settles on the next scan";
    });
  }
  setInterval(countdown, 1000);

  // Uploads (frameio): {upload_id or render_id, name, bytes_sent, bytes_total, rate_bps, eta_seconds, state}.
  on("upload.progress", (p) => {
    const body = $("#uploads tbody");
    if (!body) return;
    const key = p.upload_id != null ? `[data-upload-id="${p.upload_id}"]` : `[data-render-id="${p.render_id}"]`;
    let row = $(`tr${key}`, body);
    if (!row) {
      $$(".empty", body).forEach((node) => node.remove());
      const attrs = p.upload_id != null ? { "data-upload-id": String(p.upload_id) } : { "data-render-id": String(p.render_id) };
      row = el("tr", attrs, el("td", { class: "path" }, p.name || ""), el("td"), el("td"), el("td"), el("td"));
      body.prepend(row);
    }
    const cells = row.children;
    const pct = p.bytes_total ? (100 * p.bytes_sent) / p.bytes_total : 0;
    cells[2].replaceChildren(
      el("div", { class: "bar thin" }, el("span", { class: "seg up", style: `width:${pct}%` })),
      `${mb(p.bytes_sent)} / ${mb(p.bytes_total)} MB`,
    );
    cells[3].textContent = p.rate_bps ? `${mb(p.rate_bps)} MB/s` : "—";
    cells[4].textContent = p.eta_seconds != null ? duration(p.eta_seconds) : "—";
    if (p.state && p.state !== "uploading") refreshPanel("renders", 1000);
  });
  // Review proxies (ingest): {render_id, name, frames_done, frames_total, fps, eta_seconds} while one is encoded,
  // in the render's row of the upload queue (made here until the render is queued and the panel redrawn).
  on("proxy.progress", (p) => {
    const body = $("#uploads tbody");
    if (!body) return;
    let row = $(`tr[data-render-id="${p.render_id}"]`, body);
    if (!row) {
      $$(".empty", body).forEach((node) => node.remove());
      row = el("tr", { "data-render-id": String(p.render_id) }, el("td", { class: "path" }, p.name || ""), el("td"), el("td"), el("td"), el("td"));
      body.prepend(row);
    }
    const cells = row.children;
    const pct = p.frames_total ? (100 * p.frames_done) / p.frames_total : 0;
    cells[2].replaceChildren(
      el("div", { class: "bar thin" }, el("span", { class: "seg up", style: `width:${pct}%` })),
      `review proxy ${p.frames_done} / ${p.frames_total} frames`,
    );
    cells[3].textContent = p.fps ? `${p.fps} fps` : "—";
    cells[4].textContent = p.eta_seconds != null ? duration(p.eta_seconds) : "—";
  });
  on("proxy.state", (p) => {
    if (p.state === "ready" || p.state === "failed") refreshPanel("renders", 500);
  });
  const mb = (bytes) => (bytes / 1e6).toFixed(1);
  const duration = (s) => (s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);

  // Alerts (alerts app): {alert_id, level, title, detail} opened; {alert_id} closed or acknowledged.
  on("alert.opened", (p) => {
    const list = $("[data-alerts]");
    if (!list || $(`[data-alert-id="${p.alert_id}"]`, list)) return;
    $$(".empty", list).forEach((node) => node.remove());
    list.prepend(el("li", { class: p.level || "warn", "data-alert-id": String(p.alert_id) }, el("b", {}, p.title || ""), " ", el("span", { class: "muted" }, p.detail || "")));
    refreshPanel("alerts"); // the server's rendering brings the Acknowledge control
  });
  on("alert.closed", (p) => $$(`[data-alert-id="${p.alert_id}"]`).forEach((node) => node.remove()));

  // A whole import (shots.importer) changes the figures wholesale: offer a reload, rather than
  // reload at once and lose what the supervisor may be typing.
  on("shots.imported", (p) => {
    const banner = $("#live-banner");
    if (!banner || (config.project_id && p.project_id !== config.project_id)) return;
    const counts = ["created", "updated", "omitted", "restored"].filter((k) => p[k]).map((k) => `${p[k]} ${k}`);
    const reload = el("button", { type: "button" }, "Reload");
    reload.addEventListener("click", () => location.reload());
    banner.replaceChildren(`The shot list of ${p.project} was imported (${counts.join(", ")}, by ${p.actor}). `, reload);
    banner.hidden = false;
  });

  // Review notes (frameio.review): {action (created, updated, completed, reopened, restored, deleted), note_id,
  // comment_id, shot_id, shot, project_id, scene_id, version, text, author, frame, render_timecode,
  // record_timecode, fps_mismatch, completed, deleted}. The text is the reviewer's: only ever set as text.
  on("review.note", (p) => {
    const table = $("[data-notes]");
    if (table && p.project_id === config.project_id) showNote(table, p);
    const cell = $(`[data-panel="notes-${p.shot_id}"]`); // the scene page: the server counts the open ones
    if (cell) {
      refreshPanel(`notes-${p.shot_id}`, 100);
      flash(cell.closest("tr"));
    }
  });

  function showNote(table, p) {
    const body = $("tbody", table);
    const old = $(`tr[data-note-id="${p.note_id}"]`, body);
    if (p.deleted || p.action === "deleted") {
      if (old) old.remove();
      if (!$("tr", body)) body.append(el("tr", { class: "empty" }, el("td", { colspan: "6", class: "muted" }, "No review note from Frame.io yet.")));
      return;
    }
    // A change to a note older than the list's last one is not news here; a new or restored one is.
    if (!old && p.action !== "created" && p.action !== "restored") return;
    const row = noteRow(table, p);
    if (old) {
      old.replaceWith(row);
    } else {
      $$(".empty", body).forEach((node) => node.remove());
      body.prepend(row);
      $$("tr", body).slice(config.notes_limit || 20).forEach((node) => node.remove());
    }
    flash(row);
  }

  function noteRow(table, p) {
    const shotUrl = table.dataset.shotUrl.replace(/0\/$/, `${p.shot_id}/`);
    const record = el("td", { class: "tc" }, p.record_timecode || "—");
    if (p.fps_mismatch) {
      const why = "The render's frame rate is not the project's: its frame was placed in the cut through time.";
      record.append(" ", el("span", { class: "badge warn", title: why }, "fps mismatch"));
    }
    const text = el("td");
    if (p.completed) text.append(el("span", { class: "badge ok" }, "completed"), " ");
    text.append(el("span", { class: "note-text" }, p.text || ""));
    const attrs = { "data-note-id": String(p.note_id) };
    if (p.completed) attrs.class = "completed";
    return el(
      "tr",
      attrs,
      el("td", {}, el("a", { href: shotUrl }, p.shot || "")),
      el("td", {}, p.version ? `v${String(p.version).padStart(3, "0")}` : "—"),
      record,
      el("td", { class: "tc" }, p.render_timecode || "—"),
      el("td", { class: "author" }, p.author || ""),
      text,
    );
  }

  // Times drawn by the server are in its time zone; show every one in the browser's.
  $$("[data-activity] time[datetime]").forEach((t) => (t.textContent = localTime(t.getAttribute("datetime"))));
  connect();
})();
