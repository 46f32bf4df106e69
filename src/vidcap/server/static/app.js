// The vidcap page: upload a video, run tasks, follow their progress, show the results, search.
// Plain JS, no build step. Talks only to /api/ (see /docs).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = { token: sessionStorage.getItem("vidcap-token") || "", health: null, video: null };
const TASKS = {
  caption: "Caption", subtitles: "Speech subtitles", describe: "Timed descriptions",
  emotions: "Emotions", classify: "Actions (top-5)", interpolate: "Slow motion",
};

// ------------------------------------------------------------------ talking to the server
function headers(extra = {}) {
  return state.token ? { ...extra, Authorization: `Bearer ${state.token}` } : extra;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  const body = (res.headers.get("content-type") || "").includes("json") ? await res.json() : null;
  if (!res.ok) {
    const err = new Error((body && body.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

// A URL for <video>/<img>/<track>: the file itself, or (with a token, which those elements
// cannot send) a blob fetched with the Authorization header.
async function media(url) {
  if (!state.token) return url;
  const res = await fetch(url, { headers: headers() });
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return URL.createObjectURL(await res.blob());
}

// Server-sent events over fetch (EventSource cannot send the Authorization header).
async function follow(url, onEvent) {
  const res = await fetch(url, { headers: headers({ Accept: "text/event-stream" }) });
  if (!res.ok || !res.body) throw new Error(`${url}: ${res.status}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

// ------------------------------------------------------------------ small DOM helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
const secs = (t) => (t === null || t === undefined ? "–" : `${Number(t).toFixed(2)} s`);
const pct = (p) => `${Math.round(p * 100)}%`;
function fileUrl(job, name, download = false) {
  const f = (job.files || []).find((x) => x.name === name);
  return f ? f.url + (download ? "?download=true" : "") : null;
}
async function videoOf(url, { track = null, loop = false } = {}) {
  const v = el("video", { controls: true, playsinline: true, preload: "auto", loop });
  v.src = await media(url);
  if (track) {
    v.append(el("track", { kind: "subtitles", srclang: "en", label: "English", default: true, src: await media(track) }));
  }
  return v;
}
function downloads(job, names) {
  const box = el("p", { class: "links" });
  for (const name of names) {
    const url = fileUrl(job, name, true);
    if (url) {
      const a = el("a", { href: "#", text: `download ${name}` });
      a.addEventListener("click", async (e) => { e.preventDefault(); save(url, name); });
      box.append(a);
    }
  }
  return box;
}
async function save(url, name) {
  const a = el("a", { href: await media(url), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

// ------------------------------------------------------------------ results, one renderer per task
const RENDER = {
  async caption(job, r, box) {
    box.append(el("p", { class: "caption", text: r.caption }));
    if (!r.frames) return;
    const strip = await media(fileUrl(job, "frames.jpg"));
    const times = r.frames.times, n = times.length;
    const grid = el("div", { class: "frames", title: "the frames the model saw" });
    times.forEach((t, i) => {
      const tile = el("div", { class: "frame" }, el("span", { text: `${t.toFixed(2)} s` }));
      tile.style.backgroundImage = `url("${strip}")`;
      tile.style.backgroundSize = `${n * 100}% 100%`;
      tile.style.backgroundPosition = `${n > 1 ? (i / (n - 1)) * 100 : 0}% 0`;
      grid.append(tile);
    });
    box.append(grid, el("p", { class: "muted", text: `${n} sampled frames · log-probability ${r.score} · beam ${r.beam_size}` }));
  },
  async subtitles(job, r, box) {
    box.append(await videoOf(state.videoUrlOf(job), { track: fileUrl(job, "subtitles.vtt") }));
    box.append(downloads(job, ["subtitles.srt", "subtitles.vtt", "subtitled.mp4"]));
    box.append(cueTable(r.cues.map((c) => [c.start, c.end, c.lines.join(" ")])));
    if (!r.cues.length) box.append(el("p", { class: "muted", text: "no speech was found" }));
  },
  async describe(job, r, box) {
    box.append(await videoOf(state.videoUrlOf(job), { track: fileUrl(job, "description.vtt") }));
    if (r.speech_message) box.append(el("p", { class: "muted", text: `${r.speech_message}; the description is visual only` }));
    box.append(cueTable(r.timeline.map((e) => [e.start, e.end, `${e.kind === "visual" ? "[seen] " : ""}${e.text}`])));
    box.append(downloads(job, ["description.srt", "description.vtt"]));
  },
  async emotions(job, r, box) {
    if (fileUrl(job, "annotated.mp4")) box.append(await videoOf(fileUrl(job, "annotated.mp4")));
    const img = el("img", { class: "plot", alt: "emotions over time", id: `plot-${job.id}` });
    img.src = await media(fileUrl(job, "emotions.png"));
    box.append(img);
    const faces = Object.entries(r.summary.faces);
    if (!faces.length) box.append(el("p", { class: "muted", text: "no face was found" }));
    else {
      const t = el("table", {}, el("tr", {}, ...["face", "dominant", "share", "seen"].map((h) => el("th", { text: h }))));
      for (const [id, f] of faces) {
        t.append(el("tr", {}, el("td", { text: `#${id}` }), el("td", { text: f.dominant }),
          el("td", { text: pct(f.share[f.dominant]) }), el("td", { text: `${secs(f.first_seen)} – ${secs(f.last_seen)}` })));
      }
      box.append(t);
    }
    box.append(downloads(job, ["emotions.csv", "emotions.png", "annotated.mp4"]));
  },
  async classify(job, r, box) {
    const top = el("div", { class: "topk" });
    for (const { label, prob } of r.top_k) {
      const bar = el("i");
      bar.style.width = pct(prob);
      top.append(el("div", {}, el("b", { text: label }), el("span", { class: "muted", text: pct(prob) }), bar));
    }
    box.append(el("h3", { text: `video: ${r.label} (${pct(r.prob)}) · model ${r.model}` }), top);
    const strip = el("div", { class: "windows", title: "top label of each window" });
    const labels = [...new Set(r.windows.map((w) => w.labels[0]))];
    for (const w of r.windows) {
      const s = el("span", { text: w.labels[0], title: `${secs(w.start)}–${secs(w.end)}: ${w.labels[0]} ${pct(w.probs[0])}` });
      s.style.background = `hsl(${(labels.indexOf(w.labels[0]) * 67) % 360} 55% 45%)`;
      strip.append(s);
    }
    box.append(strip, cueTable(r.windows.map((w) => [w.start, w.end, w.labels.map((l, i) => `${l} ${pct(w.probs[i])}`).join(", ")])));
    if (fileUrl(job, "annotated.mp4")) box.append(await videoOf(fileUrl(job, "annotated.mp4")));
  },
  async interpolate(job, r, box) {
    const v = await videoOf(fileUrl(job, "interpolated.mp4"), { loop: true });
    v.muted = true;
    box.append(v, el("p", { class: "muted", text: `${r.input_frames} → ${r.output_frames} frames at ${r.output_fps} fps (${r.mode}, ×${r.factor}), ${r.scene_cuts} scene cut(s)` }));
    box.append(downloads(job, ["interpolated.mp4"]));
  },
};

function cueTable(rows) {
  const t = el("table", {}, el("tr", {}, el("th", { text: "from" }), el("th", { text: "to" }), el("th", { text: "" })));
  for (const [a, b, text] of rows) t.append(el("tr", {}, el("td", { text: secs(a) }), el("td", { text: secs(b) }), el("td", { text })));
  return el("div", { class: "scroll" }, t);
}

// ------------------------------------------------------------------ jobs
function jobCard(job) {
  const card = el("article", { class: "card job", id: `job-${job.id}`, "data-task": job.task, "data-state": job.state });
  const bar = el("div", { class: "bar" }, el("span"));
  const stateLine = el("span", { class: "state" });
  const cancel = el("button", { class: "secondary", text: "Cancel" });
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try { await api(`/api/jobs/${job.id}`, { method: "DELETE" }); } catch (e) { stateLine.textContent = e.message; }
  });
  card.append(el("header", { class: "row" }, el("h3", { text: TASKS[job.task] || job.task }), stateLine, cancel), bar,
    el("div", { class: "result" }));
  card.update = (j) => {
    card.dataset.state = j.state;
    bar.firstChild.style.width = pct(j.progress || 0);
    stateLine.textContent = `${j.state}${j.state === "running" ? ` · ${pct(j.progress)}${j.stage ? ` (${j.stage})` : ""}` : ""}`;
    cancel.hidden = !["queued", "running"].includes(j.state);
  };
  card.update(job);
  return card;
}

async function showResult(card, job) {
  card.update(job);
  const box = $(".result", card);
  box.textContent = "";
  if (job.state === "failed") box.append(el("p", { class: "error", text: job.error }));
  else if (job.state === "cancelled") box.append(el("p", { class: "muted", text: "cancelled" }));
  else if (job.state === "done") {
    try { await RENDER[job.task](job, job.result, box); } catch (e) { box.append(el("p", { class: "error", text: e.message })); }
    // a model out of its depth says so above its answer (results.py: in_domain, warning)
    if (job.result && job.result.warning) box.prepend(el("p", { class: "note warning", text: `⚠ ${job.result.warning}` }));
  }
  card.dataset.rendered = job.state;
}

async function runJob(task, params, group) {
  const slot = el("div");  // taken before the first await, so the cards keep the order of the tasks
  group.append(slot);
  let job;
  try {
    job = await api("/api/jobs", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ task, video: state.video.id, params }) });
  } catch (e) {
    slot.replaceWith(el("article", { class: "card job" }, el("h3", { text: TASKS[task] }), el("p", { class: "error", text: e.message })));
    return;
  }
  const card = jobCard(job);
  slot.replaceWith(card);
  let final = null;
  try {
    await follow(`/api/jobs/${job.id}/events`, (name, data) => {
      if (name === "end") final = data;
      else card.update({ ...job, ...data });
    });
  } catch (e) { /* the stream broke: ask for the job itself */ }
  await showResult(card, final || await api(`/api/jobs/${job.id}`));
  loadHistory();
}

// ------------------------------------------------------------------ upload
function upload(file) {
  const bar = $("#upload-progress"), err = $("#upload-error");
  err.hidden = true;
  bar.hidden = false;
  const form = new FormData();
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/videos");
  if (state.token) xhr.setRequestHeader("Authorization", `Bearer ${state.token}`);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.firstChild.style.width = pct(e.loaded / e.total); };
  xhr.onload = () => {
    bar.hidden = true;
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
    if (xhr.status !== 201) {
      err.textContent = (body && body.error) || `upload failed (${xhr.status})`;
      err.hidden = false;
      return;
    }
    chooseVideo(body, URL.createObjectURL(file));
  };
  xhr.onerror = () => { bar.hidden = true; err.textContent = "the upload was interrupted"; err.hidden = false; };
  xhr.send(form);
}

async function chooseVideo(video, localUrl = null) {
  state.video = video;
  const player = $("#player");
  player.src = localUrl || await media(video.url);
  const i = video.info;
  $("#video-info").textContent = `${video.name} · ${i.width}×${i.height} · ${secs(i.duration)} · ${i.num_frames} frames · ${i.codec}${i.has_audio ? " · audio" : ""}`;
  $("#video").hidden = false;
  $("#tasks-card").hidden = false;
}

// ------------------------------------------------------------------ search
async function search(q) {
  const hits = $("#hits"), note = $("#search-note");
  hits.textContent = "";
  note.textContent = "searching…";
  let res;
  try { res = await api(`/api/search?q=${encodeURIComponent(q)}&k=8`); } catch (e) { note.textContent = e.message; return; }
  note.textContent = `${res.results.length} result(s) in ${res.library} (${res.mode}, ${res.seconds.toFixed(2)} s)`;
  for (const h of res.results) {
    const img = el("img", { alt: h.name, src: h.thumbs || "" });
    const card = el("div", { class: "hit", tabindex: "0", "data-id": h.id },
      img, el("p", {}, el("b", { text: `${h.rank}. ${h.name}` })),
      el("p", { class: "muted", text: `score ${h.score.toFixed(4)} · ${h.time === null ? "matched: whole video" : `matched at ${secs(h.start)}–${secs(h.end)}`}` }),
      h.caption ? el("p", { text: h.caption }) : null,
      h.in_domain === false ? el("p", { class: "muted warning", text: "out of the models' domain: caption and score are probably meaningless" }) : null);
    // a click on the strip plays from the frame clicked (the strip holds evenly spaced frames)
    card.addEventListener("click", (e) => {
      let t = h.time || 0;
      if (e.target === img && h.duration && img.width) {
        const k = Math.min(3, Math.floor((e.offsetX / img.width) * 4));
        t = (k / 3) * Math.max(0, h.duration - 0.05);
      }
      play(h, t);
    });
    card.addEventListener("keydown", (e) => { if (e.key === "Enter") play(h, h.time || 0); });
    hits.append(card);
  }
}

async function play(hit, t) {
  const v = $("#hit-video");
  $("#hit-player").hidden = false;
  $("#hit-info").textContent = `${hit.name}: from ${secs(t)}${hit.caption ? ` · ${hit.caption}` : ""}`;
  v.dataset.id = hit.id;
  v.src = await media(hit.video_url);
  v.addEventListener("loadedmetadata", () => { v.currentTime = t; v.play().catch(() => {}); }, { once: true });
  v.scrollIntoView({ block: "nearest" });
}

// ------------------------------------------------------------------ earlier jobs
async function loadHistory() {
  const list = $("#history");
  let jobs;
  try { jobs = await api("/api/jobs?limit=20"); } catch (e) { return; }
  list.textContent = "";
  for (const j of jobs) {
    const a = el("a", { href: "#", text: `${TASKS[j.task] || j.task}` });
    a.addEventListener("click", async (e) => {
      e.preventDefault();
      const job = await api(`/api/jobs/${j.id}`);
      const card = jobCard(job);
      $("#jobs").prepend(card);
      await showResult(card, job);
    });
    list.append(el("li", {}, a, ` · ${j.state} · ${j.created}${j.error ? ` · ${j.error}` : ""}`));
  }
  if (!jobs.length) list.append(el("li", { class: "muted", text: "none yet" }));
}

// ------------------------------------------------------------------ start
function buildTasks(h) {
  const box = $("#tasks");
  box.textContent = "";
  for (const task of h.tasks) {
    const off = task === "classify" && !h.classifiers.length;
    const input = el("input", { type: "checkbox", value: task, checked: task === "caption", disabled: off });
    box.append(el("label", { class: off ? "off" : "" }, input, ` ${TASKS[task] || task}`));
  }
  if (h.classifiers.length > 1) {
    const select = el("select", { id: "classifier" }, ...h.classifiers.map((c) => el("option", { value: c, text: c })));
    box.append(el("label", {}, "classifier ", select));
  }
  const note = $("#classify-note");
  note.hidden = h.classifiers.length > 0;
  note.textContent = "Actions: no classifier is configured on this server. Start it with "
    + "`vidcap serve --classify-model RUN` (a run folder of `vidcap train classify`).";
}

async function start() {
  let h;
  try { h = await api("/api/health"); } catch (e) { $("#status").textContent = `server unreachable: ${e.message}`; return; }
  if (h.auth && !h.tasks) {
    $("#status").textContent = "locked";
    $("#login").hidden = false;
    return;
  }
  state.health = h;
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#status").textContent = `ready · ${h.jobs.workers} worker(s)${h.library ? ` · library ${h.library.name}: ${h.library.videos} videos` : ""}`;
  buildTasks(h);
  if (!h.library) {
    $("#search").hidden = true;
    $("#search-note").textContent = "No library: start the server with `vidcap serve --library DIR` to search one.";
  }
  loadHistory();
}

state.videoUrlOf = (job) => (state.video && state.video.id === job.video ? state.video.url : `/api/videos/${job.video}/file`);

document.addEventListener("DOMContentLoaded", () => {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    state.token = hash.get("token");
    sessionStorage.setItem("vidcap-token", state.token);
    history.replaceState(null, "", location.pathname);
  }
  $("#login").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("#token").value.trim();
    sessionStorage.setItem("vidcap-token", state.token);
    start().then(() => {
      if (!state.health) { $("#login-error").textContent = "that token was not accepted"; $("#login-error").hidden = false; }
    });
  });
  const drop = $("#drop");
  $("#file").addEventListener("change", (e) => { if (e.target.files[0]) upload(e.target.files[0]); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
  });
  $("#run").addEventListener("click", () => {
    const group = el("div", { class: "run" });  // this run's jobs, in the order of the tasks
    $("#jobs").prepend(group);
    for (const box of document.querySelectorAll("#tasks input:checked")) {
      const params = {};
      if (box.value === "classify" && $("#classifier")) params.model = $("#classifier").value;
      if (box.value === "caption") params.frames = true;  // the frames the model saw, shown beside the sentence
      runJob(box.value, params, group);
    }
  });
  $("#search").addEventListener("submit", (e) => { e.preventDefault(); search($("#q").value); });
  start();
});
