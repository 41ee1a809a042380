"use strict";
// The views and the refresh loop; loaded last (common.js, devices.js and system.js first).

const VIEWS = { devices: refreshDevices, firmware: refreshFirmware, system: refreshSystem };

function currentView() {
  const name = location.hash.replace("#", "");
  return name in VIEWS ? name : "devices";
}

// The other views show the banner too, from the small answer of /api/system/banner.
async function refreshBanner() {
  const { status, body } = await getJSON("/api/system/banner");
  if (status === 200) showBanner(body);
}

async function refresh() {
  const view = currentView();
  try {
    await VIEWS[view]();
    if (view !== "system") await refreshBanner();
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
