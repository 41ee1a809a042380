"use strict";
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

const hub = {
  session: null, // {admin, csrf_token} from /api/session; null until read
  system: null, // the last answer of GET /api/system
  unreachable: false, // the last GET /api/system failed
  following: false, // an update was started from this page: follow it until it ends
  followedAt: 0, // when it was started (answers to requests sent before are stale)
  acting: false, // a request of this page is under way
  offered: null, // the release version the Install button installs
  managedBy: null, // the fleet server that decides instead of Check and Install
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
  showBanner(system.update.banner);
  renderAutomatic(system.update.automatic, system.update.banner?.hold);
  renderHistory(system.update.history ?? []);
  renderControls();
}

const ORIGINS = {
  page: "this page", shell: "a shell", timer: "a timer", network: "the network",
  fleet: "the fleet server", boot: "the boot",
};
const MODES = {
  off: "off",
  notify: "show what is available",
  download: "download, a person installs",
  install: "install by themselves",
};

function renderAutomatic(automatic, hold) {
  if (!automatic) return;
  const rules = automatic.rules;
  const fleet = automatic.fleet;
  hub.managedBy = fleet ? fleet.server : null;
  $("fleet-note").hidden = !fleet;
  $("fleet-note").textContent = fleet
    ? `This hub is managed by hawkBit at ${fleet.server} (tenant ${fleet.tenant}): the server`
      + " decides which release is installed and when. An offline bundle still installs here,"
      + " and the server learns of it."
    : "";
  $("automatic-rules").textContent = fleet
    ? "Automatic updates from GitHub are off: the fleet server's rollout replaces them;"
      + " its soft updates keep the window and a hold (/etc/picohub/update.conf)."
    : rules
    ? `Automatic updates: ${MODES[rules.mode] ?? rules.mode}; installs in the window`
      + ` ${rules.window}; on metered connections`
      + ` ${rules.metered_downloads ? "downloads too" : "only checks"}`
      + (rules.next_window
        ? `; the window next opens ${new Date(rules.next_window).toLocaleString()}`
        : rules.window !== "any" && rules.window_open ? "; the window is open now" : "")
      + " (/etc/picohub/update.conf)."
    : `Automatic updates are stopped: ${automatic.config_error}`;
  const last = automatic.last_run;
  $("automatic-last").hidden = !last;
  if (last) {
    const by = ORIGINS[last.origin] ?? last.origin;
    const retry = last.retry_at && new Date(last.retry_at) > new Date()
      ? ` The next automatic check is after ${new Date(last.retry_at).toLocaleString()}`
        + ` (${last.failures} failed in a row).`
      : "";
    $("automatic-last").textContent =
      `Last automatic run (${ago(last.at)}, started by ${by}): ${last.message}.${retry}`;
  }
  const skipped = automatic.skipped;
  $("automatic-skipped").hidden = !skipped;
  if (skipped) {
    $("automatic-skipped").textContent = `Release ${skipped.version} is skipped: ${skipped.reason}.`;
  }
  $("automatic-hold").hidden = !hold;
  $("automatic-hold").textContent = hold ? `Automatic installs are ${hold.description}.` : "";
  $("release-hold").hidden = !hold;
}

function renderHistory(entries) {
  $("history-note").hidden = entries.length > 0;
  $("history-table").hidden = entries.length === 0;
  const rows = entries.map((entry) => {
    const row = el("tr");
    row.dataset.result = entry.result;
    const took = entry.duration_s === null ? "" : `${Math.round(entry.duration_s)} s`;
    const result = el("td", entry.result);
    result.title = entry.message;
    row.append(
      el("td", new Date(entry.at).toLocaleString()),
      el("td", ORIGINS[entry.origin] ?? entry.origin),
      el("td", entry.kind),
      el("td", entry.from_release ?? "-"),
      el("td", entry.to_release ?? "-"),
      result,
      el("td", took),
      el("td", `${(entry.downloaded_bytes / 1e6).toFixed(1)} MB`),
    );
    const why = el("tr", null, "history-message");
    const cell = el("td", entry.message);
    cell.colSpan = 8;
    why.append(cell);
    return [row, why];
  });
  $("history-table").tBodies[0].replaceChildren(...rows.flat());
}

function holdUpdates(until) {
  const json = until ? { until } : {};
  return act("hold", () => send("POST", "/api/system/update/hold", { json }), (answer) => {
    say("action-message", capitalized(answer.body?.message), "info");
    refreshSystem().catch(() => {});
  });
}

function releaseHold() {
  return act("release of the hold", () => send("DELETE", "/api/system/update/hold"), (answer) => {
    say("action-message", capitalized(answer.body?.message), "info");
    refreshSystem().catch(() => {});
  });
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
  $("update-phasing").hidden = true;
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
  // A phased release this hub does not take automatically yet: Install still takes it.
  const phase = available.phase;
  if (hub.offered && phase && !phase.included) {
    $("update-phasing").textContent = `It is phased: ${phase.message}. Automatic updates `
      + "leave it until then; Install takes it now.";
    $("update-phasing").hidden = false;
  }
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

  // The server says which statuses end a run (the page keeps no list of phases).
  const ended = !running && Boolean(status.ended);
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
  $("check-button").hidden = Boolean(hub.managedBy);
  $("install-button").hidden = !hub.offered || Boolean(hub.managedBy);
  $("install-button").disabled = locked;
  $("install-button").textContent = `Install ${hub.offered ?? ""}`.trim();
  $("bundle-button").disabled = locked || $("bundle-input").files.length === 0;
  $("rollback-button").disabled = locked;
  $("rollback-confirm").disabled = locked;
  for (const id of ["hold-day", "hold-week", "release-hold"]) $(id).disabled = hub.acting;
  $("hold-until").disabled = hub.acting || !$("hold-date").value;
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
    hub.system.update.busy = Boolean(status.busy);
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
  $("hold-day").addEventListener("click", () => holdUpdates("1d"));
  $("hold-week").addEventListener("click", () => holdUpdates("1w"));
  $("hold-date").addEventListener("input", renderControls);
  $("hold-until").addEventListener("click", () => holdUpdates($("hold-date").value));
  $("release-hold").addEventListener("click", releaseHold);
}
