/* postflow dashboard pictures: the cut as a strip, the charts (plain SVG) and the shot page's player.
   No library: the machine that serves the dashboard may be offline. Data: dashboard/pictures.py. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("live-config").textContent);
  const labels = {};
  config.statuses.forEach((s) => (labels[s.value] = s.label));
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    children.forEach((child) => node.append(child));
    return node;
  }

  function svgEl(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const getJSON = (url) => fetch(url, { credentials: "same-origin" }).then((r) => (r.ok && !r.redirected ? r.json() : Promise.reject(r.status)));
  const pad2 = (n) => String(n).padStart(2, "0");
  const version = (v) => (v ? `v${String(v).padStart(3, "0")}` : "no version");

  // Thumbnails that do not exist yet (a worker is making them) leave no broken-image icon.
  document.addEventListener("error", (event) => event.target.matches && event.target.matches("img[data-thumb]") && event.target.classList.add("missing"), true);

  // --- the cut --------------------------------------------------------------------------------

  const cut = $("[data-cut]");
  const shotsById = {}; // id -> row of the payload: [id, scene, name, status index, frames, omitted, version, notes]
  let payload = null;

  function blockTitle(row) {
    const [, , name, status, frames, omitted, v, notes] = row;
    const bits = [name || "(no nomenclature)", labels[payload.statuses[status]], version(v), `${notes} open note${notes === 1 ? "" : "s"}`];
    if (frames) bits.push(`${frames} frames`);
    if (omitted) bits.push("omitted");
    return bits.join(" · ");
  }

  function block(row, withName) {
    const [id, , name, status, frames, omitted] = row;
    const a = el("a", {
      class: `blk st-${payload.statuses[status]}${omitted ? " omitted" : ""}`,
      href: cut.dataset.shotUrl.replace(/0\/$/, `${id}/`),
      title: blockTitle(row),
      "data-cut-shot": String(id),
      "data-status": payload.statuses[status],
      style: `flex-grow:${Math.max(frames, 1)}`,
    });
    if (withName) a.append(el("span", {}, name || ""));
    return a;
  }

  function drawCut(data) {
    payload = data;
    const all = $("[data-cut-all]", cut);
    const scenesRow = $("[data-cut-scenes]", cut);
    const frames = {}; // per scene, for the scene tabs' widths
    let previous = null;
    const blocks = document.createDocumentFragment();
    data.shots.forEach((row) => {
      shotsById[row[0]] = row;
      const node = block(row, false);
      if (row[1] !== previous) node.classList.add("scene-start");
      previous = row[1];
      blocks.append(node);
      frames[row[1]] = (frames[row[1]] || 0) + Math.max(row[4], 1);
    });
    all.replaceChildren(blocks);
    // The scene tabs in cut order (the order their first shot comes in), as wide as their shots.
    const order = [...new Set(data.shots.map((row) => row[1]))];
    scenesRow.replaceChildren(
      ...order.map((id) => {
        const [number, name] = data.scenes[id] || ["?", ""];
        const tab = el("button", { type: "button", "data-cut-scene": String(id), title: `${pad2(number)} ${name}: zoom`, style: `flex-grow:${frames[id]}` }, pad2(number));
        tab.addEventListener("click", () => zoom(id));
        return tab;
      }),
    );
    const total = data.shots.filter((row) => !row[5]).length;
    $("[data-cut-summary]").textContent = `${total} shots, ${order.length} scenes, in record order`;
    zoom(Number(cut.dataset.zoom) || order[0]);
  }

  function zoom(sceneId) {
    if (sceneId === undefined) return;
    cut.dataset.zoom = String(sceneId);
    const [number, name] = payload.scenes[sceneId] || ["?", ""];
    const title = $("[data-cut-zoom-title]", cut);
    title.replaceChildren(el("a", { href: cut.dataset.sceneUrl.replace(/0\/$/, `${sceneId}/`) }, `Scene ${pad2(number)} · ${name}`));
    $$("[data-cut-scene]", cut).forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.cutScene === String(sceneId))));
    const rows = payload.shots.filter((row) => row[1] === sceneId);
    $("[data-cut-zoom]", cut).replaceChildren(...rows.map((row) => block(row, true)));
  }

  function recolour(p) {
    const row = shotsById[p.shot_id];
    if (!row || p.kind === "refused") return;
    row[3] = payload.statuses.indexOf(p.to);
    $$(`[data-cut-shot="${p.shot_id}"]`, cut).forEach((node) => {
      node.classList.remove(`st-${node.dataset.status}`);
      node.classList.add(`st-${p.to}`);
      node.dataset.status = p.to;
      node.title = blockTitle(row);
    });
  }

  if (cut) {
    getJSON(cut.dataset.url).then(drawCut, (status) => ($("[data-cut-summary]").textContent = `(not loaded: ${status})`));
    if (window.postflowLive) window.postflowLive.on("shot.status", (p) => payload && recolour(p));
  }

  // --- charts ---------------------------------------------------------------------------------

  const W = 460;
  const H = 150;
  const PAD = { left: 34, right: 6, top: 8, bottom: 20 };

  /** The palette of a CSS class (the statuses' and stages'), so that charts and tables agree. */
  function colourOf(cls) {
    const probe = el("span", { class: cls, style: "display:none" });
    document.body.append(probe);
    const colour = getComputedStyle(probe).backgroundColor;
    probe.remove();
    return colour;
  }

  function frame(svg, max, xLabels) {
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.replaceChildren();
    const y = (v) => H - PAD.bottom - ((H - PAD.top - PAD.bottom) * v) / (max || 1);
    svg.append(svgEl("line", { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: "axis" }));
    svg.append(svgEl("text", { x: PAD.left - 4, y: y(max) + 4, "text-anchor": "end" }, fmt(max)));
    svg.append(svgEl("text", { x: PAD.left - 4, y: y(0), "text-anchor": "end" }, "0"));
    svg.append(svgEl("text", { x: PAD.left, y: H - 4 }, xLabels[0]));
    svg.append(svgEl("text", { x: W - PAD.right, y: H - 4, "text-anchor": "end" }, xLabels[xLabels.length - 1]));
    return y;
  }

  const fmt = (v) => (v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1));

  /** Bars per x, each a stack of series ({name, colour, values}); or side by side when !stacked. */
  function bars(svg, xs, series, { stacked = true } = {}) {
    const totals = xs.map((_, i) => (stacked ? series.reduce((sum, s) => sum + s.values[i], 0) : Math.max(...series.map((s) => s.values[i]))));
    const max = Math.max(1, ...totals);
    const y = frame(svg, max, xs.map(shortLabel));
    const slot = (W - PAD.left - PAD.right) / xs.length;
    xs.forEach((x, i) => {
      let base = 0;
      series.forEach((s, k) => {
        const v = s.values[i];
        if (!v) return;
        const width = stacked ? slot * 0.8 : (slot * 0.8) / series.length;
        const left = PAD.left + slot * i + slot * 0.1 + (stacked ? 0 : width * k);
        const top = y(base + v);
        const rect = svgEl("rect", { x: left, y: top, width: Math.max(width, 1), height: y(base) - top, fill: s.colour, "data-series": s.name, "data-value": v });
        rect.append(svgEl("title", {}, `${shortLabel(x)} · ${s.name}: ${fmt(v)}`));
        svg.append(rect);
        if (stacked) base += v;
      });
    });
  }

  function line(svg, xs, values, colour) {
    const max = Math.max(1, ...values);
    const y = frame(svg, max, xs.map(shortLabel));
    const step = (W - PAD.left - PAD.right) / Math.max(xs.length - 1, 1);
    const points = values.map((v, i) => `${PAD.left + step * i},${y(v)}`).join(" ");
    svg.append(svgEl("polyline", { points, fill: "none", stroke: colour, "stroke-width": 2, "data-series": "open notes" }));
    values.forEach((v, i) => {
      const dot = svgEl("circle", { cx: PAD.left + step * i, cy: y(v), r: 2.5, fill: colour, "data-value": v });
      dot.append(svgEl("title", {}, `${shortLabel(xs[i])}: ${v} open`));
      svg.append(dot);
    });
  }

  const shortLabel = (iso) => (iso.length > 10 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(5));

  function legend(name, series) {
    const box = $(`[data-legend="${name}"]`);
    if (box) box.replaceChildren(...series.map((s) => el("span", {}, el("i", { style: `background:${s.colour}` }), s.name)));
  }

  function drawCharts(data) {
    const stageNames = { source: "Source", after_effects: "After Effects", ebsynth: "EbSynth", review: "Review", delivery: "Delivery" };
    const moves = Object.entries(data.moves).map(([stage, values]) => ({ name: stageNames[stage] || stage, colour: colourOf(`stage-${stage}`), values }));
    bars($('[data-chart="moves"]'), data.days, moves);
    legend("moves", moves);
    const renders = [
      { name: "verified", colour: colourOf("ok-fill"), values: data.renders.verified },
      { name: "quarantined", colour: colourOf("bad-fill"), values: data.renders.quarantined },
    ];
    bars($('[data-chart="renders"]'), data.days, renders, { stacked: false });
    legend("renders", renders);
    bars($('[data-chart="throughput"]'), data.throughput.hours, [{ name: "MB/s", colour: colourOf("seg up"), values: data.throughput.mbps }]);
    line($('[data-chart="open_notes"]'), data.days, data.open_notes, colourOf("warn-fill"));
    $("[data-charts]").dataset.drawn = "true";
  }

  const charts = $("[data-charts]");
  if (charts) getJSON(charts.dataset.url).then(drawCharts, (status) => charts.prepend(el("p", { class: "muted" }, `Charts not loaded (${status}).`)));

  // --- the player -----------------------------------------------------------------------------

  const player = config.player || {};

  /** Project frames from the shot's first frame to the render's frame `frame` (from 1): as
      postflow.lib.timecode.offset_in_shot, for the readout. */
  function offsetInShot(frame, renderFps, projectFps) {
    const index = Math.max(frame, 1) - 1;
    return Math.abs(renderFps - projectFps) <= 0.01 ? index : Math.floor((index * projectFps) / renderFps);
  }

  /** HH:MM:SS:FF, non-drop, at the project's nominal rate (23.976 counts as 24, as the EDL does). */
  function timecode(frames, fps) {
    const nominal = Math.round(fps);
    const ff = frames % nominal;
    const seconds = Math.floor(frames / nominal);
    return `${pad2(Math.floor(seconds / 3600))}:${pad2(Math.floor(seconds / 60) % 60)}:${pad2(seconds % 60)}:${pad2(ff)}`;
  }

  function setUpPlayer(box) {
    const video = $("video[data-video]", box);
    if (!video) return;
    const fps = Number(box.dataset.fps) || 25;
    const total = Number(box.dataset.frames) || 0;
    const frameAt = (t) => Math.max(1, Math.min(total || Infinity, Math.floor(t * fps + 1e-3) + 1));
    const show = (t) => {
      const frame = frameAt(t);
      $("[data-frame-now]", box).textContent = String(frame);
      if (player.record_in !== null && player.record_in !== undefined) {
        $("[data-record-tc]", box).textContent = timecode(player.record_in + offsetInShot(frame, fps, player.project_fps), player.project_fps);
      }
      if (total) $("[data-playhead]", box).style.left = `${(100 * (frame - 1)) / total}%`;
      box.dataset.frame = String(frame);
    };
    // The frame on screen, not the clock's guess: requestVideoFrameCallback gives each presented frame's time.
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      const onFrame = (_, meta) => {
        show(meta.mediaTime);
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    }
    ["seeked", "timeupdate", "loadedmetadata"].forEach((name) => video.addEventListener(name, () => show(video.currentTime)));
    // The middle of the frame, so rounding never lands on the one before.
    box.seek = (frame) => {
      video.pause();
      video.currentTime = (Math.max(frame, 1) - 1 + 0.5) / fps;
    };
    $$("[data-step]", box).forEach((button) => button.addEventListener("click", () => box.seek(frameAt(video.currentTime) + Number(button.dataset.step))));
    $$("[data-seek]", box).forEach((marker) => marker.addEventListener("click", () => box.seek(Number(marker.dataset.seek))));
    video.addEventListener("error", () => {
      const why = el("p", { class: "muted", "data-noplay": "" }, "This browser cannot play the file (or it changed since it was verified).");
      box.append(why);
    });
  }

  $$("[data-player]").forEach(setUpPlayer);
  // A note's row seeks its version's player.
  $$(".version tr[data-seek]").forEach((row) =>
    row.addEventListener("click", () => {
      const box = $("[data-player]", row.closest(".version"));
      if (box && box.seek) {
        box.seek(Number(row.dataset.seek));
        box.scrollIntoView({ block: "nearest" });
      }
    }),
  );
})();
