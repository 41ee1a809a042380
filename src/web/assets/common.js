"use strict";
// picohub frontend: plain JavaScript, no build step, no network beyond this hub. This
// file holds what the pages share; index.html loads it first.

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

// Every view says when an update is available, running, held, or the last one failed
// (the banner of GET /api/system/banner).
function showBanner(banner) {
  const node = document.getElementById("banner");
  const parts = [];
  if (banner?.busy) parts.push(`An update is under way: ${banner.message}.`);
  else if (banner?.failed) parts.push(`The last update did not succeed: ${banner.message}.`);
  if (banner?.available && !banner.busy) parts.push(`Release ${banner.available} is available.`);
  if (banner?.hold) parts.push(`Automatic updates are ${banner.hold.description}.`);
  node.hidden = parts.length === 0;
  node.textContent = parts.join(" ");
  node.dataset.kind = banner?.failed && !banner.busy ? "error" : "info";
}
