"use strict";
// picohub frontend: plain JavaScript, no build step, no network beyond this hub.

const REFRESH_MS = 5000;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

async function getJSON(path) {
  const answer = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  const body = await answer.json().catch(() => null);
  return { status: answer.status, body };
}

function setApiState(ok) {
  document.getElementById("api-state").textContent = ok
    ? "Connected to the hub."
    : "The hub is not answering; retrying…";
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return new Date(iso).toLocaleString();
}

function firmwareCell(device) {
  const cell = el("td", device.firmware_version);
  if (device.behind === true) cell.append(" ", el("span", "update available", "badge behind"));
  if (device.behind === false) cell.append(" ", el("span", "current", "badge current"));
  return cell;
}

async function refreshDevices() {
  const { status, body } = await getJSON("/api/devices");
  const note = document.getElementById("devices-note");
  const table = document.getElementById("devices-table");
  if (status !== 200) throw new Error(`devices: HTTP ${status}`);
  const rows = body.devices.map((device) => {
    const row = el("tr");
    row.dataset.device = device.id;
    const readings = Object.entries(device.readings).map(([k, v]) => `${k} ${v}`).join(", ");
    row.append(
      el("td", device.id),
      firmwareCell(device),
      el("td", readings || "—"),
      el("td", device.uptime_s === null ? "—" : `${device.uptime_s} s`),
      el("td", ago(device.last_seen)),
    );
    return row;
  });
  table.tBodies[0].replaceChildren(...rows);
  table.hidden = rows.length === 0;
  note.textContent = rows.length
    ? `${rows.length} board(s); the hub offers firmware ${body.offered_firmware ?? "(none)"}.`
    : "No board has reported in yet.";
}

async function refreshFirmware() {
  const { status, body } = await getJSON("/api/firmware/manifest");
  const note = document.getElementById("firmware-note");
  const details = document.getElementById("firmware-details");
  if (status === 404) {
    note.textContent = body.message;
    details.hidden = true;
    return;
  }
  if (status !== 200) throw new Error(`firmware: HTTP ${status}`);
  note.textContent = body.test_image
    ? "This is a generated test image: it does not boot on a board."
    : "Boards download this image from the hub.";
  const fields = [
    ["Version", body.firmware_version], ["Board", body.board], ["UF2 family", body.family_id],
    ["Size", `${body.size} bytes`], ["SHA-256", body.sha256], ["From package", body.package_version],
  ];
  details.replaceChildren(...fields.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  details.hidden = false;
}

async function refreshSystem() {
  const { status, body } = await getJSON("/api/system");
  if (status !== 200) throw new Error(`system: HTTP ${status}`);
  const rows = Object.entries(body.packages).map(([name, version]) => {
    const row = el("tr");
    row.append(el("td", name), el("td", version ?? "not installed"));
    return row;
  });
  document.querySelector("#packages-table tbody").replaceChildren(...rows);
  document.getElementById("update-note").textContent = body.update
    ? body.update.message
    : "The updater is not part of this release.";
}

const VIEWS = { devices: refreshDevices, firmware: refreshFirmware, system: refreshSystem };

function currentView() {
  const name = location.hash.replace("#", "");
  return name in VIEWS ? name : "devices";
}

async function refresh() {
  const view = currentView();
  try {
    await VIEWS[view]();
    setApiState(true);
  } catch (error) {
    // The app may be restarting under an upgrade: keep the page, say so, and retry.
    setApiState(false);
  }
}

function show() {
  const view = currentView();
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== view;
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === view);
  }
  refresh();
}

window.addEventListener("hashchange", show);
show();
setInterval(refresh, REFRESH_MS);
