// litefer browser demo: plain JavaScript, no build step, talks only to the server it came from.
"use strict";

const COLORS = { angry: "#e53935", disgust: "#7cb342", fear: "#8e24aa", happy: "#fbc02d",
  sad: "#1e88e5", surprise: "#fb8c00", neutral: "#90a4ae", contempt: "#6d4c41",
  uncertain: "#9e9e9e" };
const $ = (id) => document.getElementById(id);
const view = $("view"), ctx = view.getContext("2d");
const snap = document.createElement("canvas"), snapCtx = snap.getContext("2d");
const video = $("video");
let camera = null;  // {stream, socket, sentAt, frames}

function colorOf(label) { return COLORS[label] || "#00acc1"; }
function apiKey() { return $("apikey").value.trim(); }
function keyHeaders() { return apiKey() ? { "X-API-Key": apiKey() } : {}; }

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

function query() {
  const d = $("detector").value;
  return d ? "?detector=" + encodeURIComponent(d) : "";
}

function timingText(result, roundTripMs) {
  const t = result.timings_ms || {};
  const server = Object.values(t).reduce((a, b) => a + b, 0);
  const parts = Object.entries(t).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ");
  return `${roundTripMs.toFixed(0)} ms round trip; server ${server.toFixed(1)} ms (${parts})`;
}

// Draw one face: box, "label 83%" tag above it, a confidence bar below it.
function drawFace(face, scale) {
  const b = face.box, color = colorOf(face.label);
  const w = b.x2 - b.x1, h = b.y2 - b.y1;
  const line = Math.max(2, 3 * scale), font = Math.max(12, Math.round(16 * scale));
  ctx.lineWidth = line;
  ctx.strokeStyle = color;
  ctx.strokeRect(b.x1, b.y1, w, h);
  const id = face.track_id != null ? `#${face.track_id} ` : "";
  const text = `${id}${face.label} ${(100 * face.confidence).toFixed(0)}%`;
  ctx.font = `600 ${font}px system-ui, sans-serif`;
  const tw = ctx.measureText(text).width + 8, top = Math.max(0, b.y1 - font - 6);
  ctx.fillStyle = color;
  ctx.fillRect(b.x1, top, tw, font + 6);
  ctx.fillStyle = "#000";
  ctx.fillText(text, b.x1 + 4, top + font);
  const barY = Math.min(view.height - 8 * scale, b.y2 + 4 * scale), barH = Math.max(4, 6 * scale);
  ctx.fillStyle = "rgba(0,0,0,0.45)";
  ctx.fillRect(b.x1, barY, w, barH);
  ctx.fillStyle = color;
  ctx.fillRect(b.x1, barY, w * face.confidence, barH);
}

function listFaces(faces) {
  const list = $("faces");
  list.replaceChildren(...faces.map((face, i) => {
    const li = document.createElement("li");
    li.className = "face";
    li.dataset.label = face.label;
    const head = document.createElement("div");
    head.className = "face-head";
    const id = face.track_id != null ? ` (track ${face.track_id})` : "";
    head.textContent = `Face ${i + 1}${id}: ${face.label} ${(100 * face.confidence).toFixed(1)}%`;
    const bars = document.createElement("div");
    bars.className = "bars";
    for (const [label, p] of Object.entries(face.probs)) {
      const name = document.createElement("span"), bar = document.createElement("div");
      const fill = document.createElement("span"), value = document.createElement("span");
      name.textContent = label;
      bar.className = "bar";
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      fill.style.background = colorOf(label);
      bar.append(fill);
      value.textContent = p.toFixed(3);
      bars.append(name, bar, value);
    }
    li.append(head, bars);
    return li;
  }));
}

// Paint the source (image or the exact camera frame sent) and the result's overlays.
function render(source, result) {
  view.width = source.width;
  view.height = source.height;
  ctx.drawImage(source, 0, 0);
  const scale = Math.max(view.width, view.height) / 640;
  for (const face of result.faces) drawFace(face, scale);
  view.dataset.faces = String(result.faces.length);
  window.lastResult = result;  // what is drawn, for automated checks and the console
  listFaces(result.faces);
}

async function analyzeFile(file) {
  if (!file) return;
  stopCamera();
  document.body.dataset.state = "busy";
  setStatus(`Analysing ${file.name}…`);
  const t0 = performance.now();
  try {
    const response = await fetch("/v1/analyze" + query(), { method: "POST", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream", ...keyHeaders() } });
    const body = await response.json();
    const rtt = performance.now() - t0;
    if (!response.ok) throw new Error(`${response.status}: ${body.detail || "request failed"}`);
    const bitmap = await createImageBitmap(file);
    render(bitmap, body);
    document.body.dataset.state = "image";
    setStatus(`${body.faces.length} face(s) in ${file.name}; ${timingText(body, rtt)}`);
  } catch (err) {
    document.body.dataset.state = "error";
    setStatus(`Could not analyse ${file.name}: ${err.message}`, true);
  }
}

function sendFrame() {
  if (!camera || camera.socket.readyState !== WebSocket.OPEN || !video.videoWidth) return;
  snap.width = video.videoWidth;
  snap.height = video.videoHeight;
  snapCtx.drawImage(video, 0, 0);
  snap.toBlob((blob) => {
    if (!camera || camera.socket.readyState !== WebSocket.OPEN) return;
    camera.sentAt = performance.now();
    camera.socket.send(blob);
  }, "image/jpeg", 0.8);
}

function onStreamResult(event) {
  const result = JSON.parse(event.data), rtt = performance.now() - camera.sentAt;
  camera.frames += 1;
  document.body.dataset.frames = String(camera.frames);
  if (result.error) {
    setStatus(`frame ${result.frame}: ${result.error}`, true);
  } else {
    render(snap, result);
    setStatus(`live · frame ${result.frame} · ${result.faces.length} face(s) · ` +
      timingText(result, rtt));
  }
  requestAnimationFrame(sendFrame);  // one frame in flight: the overlay never lags behind
}

async function startCamera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 },
      audio: false });
    video.srcObject = stream;
    await video.play();
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/v1/stream${query()}`);
    camera = { stream, socket, sentAt: 0, frames: 0 };
    socket.onopen = () => {
      if (apiKey()) socket.send(JSON.stringify({ api_key: apiKey() }));
      sendFrame();
    };
    socket.onmessage = onStreamResult;
    socket.onclose = (e) => {
      if (camera && camera.socket === socket) {
        stopCamera();
        if (e.code !== 1000) setStatus(`stream closed (${e.code}) ${e.reason}`, e.code !== 1005);
      }
    };
    document.body.dataset.state = "camera";
    $("camera").textContent = "Stop camera";
    $("camera").setAttribute("aria-pressed", "true");
    setStatus("Camera started; waiting for the first result…");
  } catch (err) {
    setStatus(`Camera unavailable: ${err.message}`, true);
  }
}

function stopCamera() {
  if (!camera) return;
  const { stream, socket } = camera;
  camera = null;
  socket.close(1000);
  stream.getTracks().forEach((t) => t.stop());
  document.body.dataset.state = "stopped";
  $("camera").textContent = "Start camera";
  $("camera").setAttribute("aria-pressed", "false");
  setStatus("Camera stopped.");
}

async function loadDetectors() {
  try {
    const response = await fetch("/v1/models", { headers: keyHeaders() });
    if (response.status === 401) {
      setStatus("This server needs an API key: enter it above.", true);
      return;
    }
    if (!response.ok) return;
    const info = await response.json();
    const select = $("detector");
    select.replaceChildren(...info.detectors.available.map((name) => {
      const option = new Option(name + (name === info.detectors.default ? " (default)" : ""), name);
      option.selected = name === info.detectors.default;
      return option;
    }));
    setStatus(`Ready: model ${info.model.name}.`);
  } catch (err) { /* the page still works with the server default */ }
}

function setup() {
  $("apikey").value = sessionStorage.getItem("litefer-key") || "";
  $("apikey").addEventListener("change", () => {
    sessionStorage.setItem("litefer-key", apiKey());
    loadDetectors();
  });
  $("file").addEventListener("change", (e) => analyzeFile(e.target.files[0]));
  $("camera").addEventListener("click", () => (camera ? stopCamera() : startCamera()));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    analyzeFile(e.dataTransfer.files[0]);
  });
  loadDetectors();
}

setup();
