"use strict";
// picohub frontend: plain JavaScript, no build step, no network beyond this hub.

const REFRESH_MS = 5000;
// A request that hangs (the app restarting under an update) must not stall the page.
const REQUEST_TIMEOUT_MS = 15000;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

async function getJSON(path) {
  const answer = await fetch(path, {
    headers: { Accept: "application/json" },
    cache: "no-store",
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
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

// The system page: the installed release and its updates. Reading is open to all; the
// update actions need the administrator, whose CSRF token is kept in memory only (read
// again from /api/session after a reload; the session cookie itself is HttpOnly).
// Everything shown comes from GET /api/system, so a reload at any point shows the same
// state; while an update runs the page polls every second, through the restart of the
// app under it (requests fail for a moment then, and the page says so and carries on).

const PROGRESS_MS = 1000;
const PHASES = {
  idle: "Idle",
  checking: "Checking",
  downloading: "Downloading",
  downloaded: "Downloaded",
  installing: "Installing",
  done: "Done",
  failed: "Failed",
  "rolled-back": "Rolled back",
};
// Phases that end an update: the page shows their message as the result.
const ENDED = new Set(["done", "failed", "rolled-back", "downloaded"]);

const hub = {
  session: null, // {admin, csrf_token} from /api/session; null until read
  system: null, // the last answer of GET /api/system
  unreachable: false, // the last GET /api/system failed
  following: false, // an update was started from this page: follow it until it ends
  followedAt: 0, // when it was started (answers to requests sent before are stale)
  acting: false, // a request of this page is under way
  offered: null, // the release version the Install button installs
  loadedWith: null, // the version running when this page was loaded
};

const $ = (id) => document.getElementById(id);

function capitalized(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

function say(id, text, kind = "error") {
  const node = $(id);
  node.textContent = text || "";
  node.hidden = !text;
  node.dataset.kind = kind;
}

async function send(method, path, { json, file, timeout = REQUEST_TIMEOUT_MS } = {}) {
  const headers = { Accept: "application/json" };
  if (hub.session?.csrf_token) headers["X-CSRF-Token"] = hub.session.csrf_token;
  let body;
  if (file) {
    body = file;
    headers["Content-Type"] = "application/x-tar";
  } else if (json !== undefined) {
    body = JSON.stringify(json);
    headers["Content-Type"] = "application/json";
  }
  const signal = timeout ? AbortSignal.timeout(timeout) : undefined;
  const answer = await fetch(path, { method, headers, body, cache: "no-store", signal });
  const data = await answer.json().catch(() => null);
  return { status: answer.status, body: data, headers: answer.headers };
}

function problem(answer, what) {
  return answer.body?.message
    ? capitalized(answer.body.message)
    : `The ${what} failed: HTTP ${answer.status}.`;
}

function busy() {
  return Boolean(hub.system?.update?.busy);
}

async function readSession() {
  const { status, body } = await getJSON("/api/session");
  if (status !== 200 || !body) throw new Error(`session: HTTP ${status}`);
  setSession(body);
}

function setSession(body) {
  hub.session = { admin: body.admin === true, csrf_token: body.admin ? body.csrf_token : null };
  renderSystem();
}

async function refreshSystem() {
  if (hub.session === null) await readSession().catch(() => {});
  const sent = performance.now();
  let answer;
  try {
    answer = await getJSON("/api/system");
    if (answer.status !== 200 || !answer.body) throw new Error(`system: HTTP ${answer.status}`);
  } catch (error) {
    hub.unreachable = true;
    renderSystem();
    throw error;
  }
  hub.unreachable = false;
  // Sent before an action of this page started: it may show the state before it.
  if (sent >= hub.followedAt || hub.system === null) {
    hub.system = answer.body;
    hub.loadedWith ??= answer.body.running;
    if (!busy()) hub.following = false;
  }
  renderSystem();
}

function renderSystem() {
  const system = hub.system;
  const admin = hub.session?.admin === true;
  $("login-form").hidden = hub.session === null || admin;
  $("logged-in").hidden = !admin;
  for (const node of document.querySelectorAll(".admin-only")) node.hidden = !admin;
  if (system === null) {
    if (hub.unreachable) $("update-note").textContent = "The hub is not answering; retrying…";
    return;
  }
  $("running-version").textContent = system.running;
  const rows = Object.entries(system.packages).map(([name, version]) => {
    const row = el("tr");
    row.dataset.package = name;
    row.append(el("td", name), el("td", version ?? "not installed"));
    return row;
  });
  $("packages-table").tBodies[0].replaceChildren(...rows);
  if (!system.update) {
    $("update-note").textContent = "The updater is not part of this release.";
    for (const node of document.querySelectorAll(".admin-only")) node.hidden = true;
    return;
  }
  renderOffer(system);
  renderProgress(system);
  renderControls();
}

function renderOffer(system) {
  const available = system.update.available;
  const note = $("update-note");
  // The last check may predate an update since: what it offers may be installed now.
  const pending = available?.update_available
    ? available.changes.filter((change) => system.packages[change.package] !== change.offered)
    : [];
  hub.offered = pending.length ? available.version : null;
  $("update-offer").hidden = !hub.offered;
  if (!hub.offered && (busy() || hub.following)) {
    // dpkg may list the new release before the update has ended: not "up to date" yet.
    note.textContent = "An update is under way.";
    note.dataset.state = "busy";
    return;
  }
  if (!available) {
    note.textContent = "No check for updates yet.";
    note.dataset.state = "none";
    return;
  }
  const checked = `(checked ${ago(available.checked_at)})`;
  if (!hub.offered) {
    note.textContent = available.update_available
      ? `Up to date: release ${available.version} is installed ${checked}.`
      : `${capitalized(available.message)} ${checked}.`;
    note.dataset.state = "current";
    return;
  }
  note.textContent = `Release ${available.version} is available ${checked}.`;
  note.dataset.state = "available";
  const rows = pending.map((change) => {
    const row = el("tr");
    row.dataset.package = change.package;
    const now = system.packages[change.package];
    row.append(el("td", change.package), el("td", now ?? "not installed"), el("td", change.offered));
    return row;
  });
  $("changes-table").tBodies[0].replaceChildren(...rows);
  $("release-notes").textContent = available.notes ?? "";
  $("release-notes").hidden = !available.notes;
  $("release-notes-title").hidden = !available.notes;
}

function renderProgress(system) {
  const status = system.update.status;
  const running = busy() || hub.following;
  $("update-progress").hidden = !running;
  $("update-phase").textContent = PHASES[status.phase] ?? status.phase;
  $("update-message").textContent = capitalized(status.message);
  const measured = typeof status.progress === "number";
  $("update-bar-line").hidden = !running || !measured;
  if (measured) {
    $("update-bar").value = status.progress;
    $("update-percent").textContent = `${Math.round(status.progress * 100)} %`;
  }
  // The app restarts under an update: while it does, requests fail for a moment.
  $("update-connection").hidden = !hub.unreachable;

  const ended = !running && ENDED.has(status.phase);
  const result = $("update-result");
  result.hidden = !ended;
  result.dataset.phase = status.phase;
  result.textContent = status.phase === "failed"
    ? `Failed: ${status.message}`
    : capitalized(status.message);
  // This page's script is the one it was loaded with; a new release may bring a new page.
  const stale = !running && hub.loadedWith !== null && system.running !== hub.loadedWith;
  $("reload-note").hidden = !stale;
  $("reload-text").textContent = `This page came with picohub ${hub.loadedWith}.`;
}

function renderControls() {
  const locked = hub.acting || hub.following || busy() || hub.unreachable;
  $("check-button").disabled = locked;
  $("install-button").hidden = !hub.offered;
  $("install-button").disabled = locked;
  $("install-button").textContent = `Install ${hub.offered ?? ""}`.trim();
  $("bundle-button").disabled = locked || $("bundle-input").files.length === 0;
  $("rollback-button").disabled = locked;
  $("rollback-confirm").disabled = locked;
}

// One update action: a request, then its answer shown. 202 (started) and 409 (one is
// running already) both lead to the progress view.
async function act(what, request, onSuccess) {
  hub.acting = true;
  say("action-message", "");
  renderControls();
  try {
    const answer = await request();
    if (answer.status === 200 || answer.status === 202 || answer.status === 409) {
      if (answer.body?.status) follow(answer.body.status);
      if (answer.status === 409) say("action-message", problem(answer, what), "info");
      onSuccess?.(answer);
    } else if (answer.status === 401) {
      setSession({ admin: false });
      say("action-message", `${problem(answer, what)} (the session ended).`);
    } else if (answer.status === 403) {
      say("action-message", `${problem(answer, what)} Try again.`);
      await readSession().catch(() => {});
    } else {
      say("action-message", problem(answer, what));
    }
  } catch (error) {
    say("action-message", `The hub did not answer the ${what}; try again in a moment.`);
  } finally {
    hub.acting = false;
    renderSystem();
  }
}

function follow(status) {
  hub.following = true;
  hub.followedAt = performance.now();
  if (hub.system?.update) {
    hub.system.update.status = status;
    hub.system.update.busy = !ENDED.has(status.phase) && status.phase !== "idle";
  }
  schedule(PROGRESS_MS);
}

function checkForUpdates() {
  const button = $("check-button");
  button.textContent = "Checking…";
  return act("check", () => send("POST", "/api/system/update/check", { timeout: 60000 }), (
    answer,
  ) => {
    if (hub.system?.update && answer.body?.available) {
      hub.system.update.available = answer.body.available;
    }
  }).finally(() => {
    button.textContent = "Check for updates";
  });
}

function install() {
  // The version the page shows: what the administrator saw is what gets installed.
  const version = hub.offered;
  return act("update", () => send("POST", "/api/system/update", { json: { version } }));
}

function uploadBundle(event) {
  event.preventDefault();
  const input = $("bundle-input");
  const file = input.files[0];
  if (!file) return undefined;
  const megabytes = (file.size / 1e6).toFixed(1);
  return act(
    "upload",
    () => {
      say("action-message", `Uploading ${file.name} (${megabytes} MB)…`, "info");
      return send("POST", "/api/system/update/bundle", { file, timeout: 0 });
    },
    () => {
      input.value = "";
      say("action-message", `Uploaded ${file.name}.`, "info");
    },
  );
}

function askRollback(open) {
  $("rollback-box").hidden = !open;
  $("rollback-button").setAttribute("aria-expanded", String(open));
  if (open) $("rollback-confirm").focus();
}

function rollBack() {
  askRollback(false);
  return act("rollback", () => send("POST", "/api/system/rollback", { json: { confirm: true } }));
}

async function logIn(event) {
  event.preventDefault();
  const password = $("password");
  const button = $("login-button");
  button.disabled = true;
  say("login-message", "");
  let wait = 0;
  try {
    const answer = await send("POST", "/api/session", { json: { password: password.value } });
    if (answer.status === 200 && answer.body) {
      password.value = "";
      say("action-message", "");
      setSession(answer.body);
    } else {
      say("login-message", problem(answer, "login"));
      if (answer.status === 429) wait = Number(answer.headers.get("Retry-After")) || 1;
    }
  } catch (error) {
    say("login-message", "The hub did not answer; try again in a moment.");
  }
  // Locked out: the button comes back when the hub accepts an attempt again.
  setTimeout(() => {
    button.disabled = false;
  }, wait * 1000);
}

async function logOut() {
  try {
    const answer = await send("DELETE", "/api/session");
    setSession(answer.status === 200 && answer.body ? answer.body : { admin: false });
  } catch (error) {
    say("action-message", "The hub did not answer; try again in a moment.");
  }
}

function wireSystem() {
  $("login-form").addEventListener("submit", logIn);
  $("logout-button").addEventListener("click", logOut);
  $("check-button").addEventListener("click", checkForUpdates);
  $("install-button").addEventListener("click", install);
  $("bundle-form").addEventListener("submit", uploadBundle);
  $("bundle-input").addEventListener("change", renderControls);
  $("rollback-button").addEventListener("click", () => askRollback(true));
  $("rollback-cancel").addEventListener("click", () => askRollback(false));
  $("rollback-confirm").addEventListener("click", rollBack);
  $("reload-button").addEventListener("click", () => location.reload());
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

// One refresh at a time; the next one comes sooner while an update is followed.
let timer = null;
let refreshing = null;

function schedule(delay) {
  clearTimeout(timer);
  timer = setTimeout(tick, delay);
}

function nextDelay() {
  if (currentView() !== "system") return REFRESH_MS;
  const waiting = hub.following || busy() || (hub.unreachable && hub.system === null);
  return waiting ? PROGRESS_MS : REFRESH_MS;
}

async function tick() {
  clearTimeout(timer);
  refreshing ??= refresh().finally(() => {
    refreshing = null;
  });
  await refreshing;
  schedule(nextDelay());
}

function show() {
  const view = currentView();
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== view;
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === view);
  }
  tick();
}

wireSystem();
window.addEventListener("hashchange", show);
show();
