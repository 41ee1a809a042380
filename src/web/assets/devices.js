"use strict";
// The devices and firmware pages: the boards the hub knows, and the image it offers.

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
    ["IMAGE_DEF", imageDefText(body)], ["Over the air", otaCell(body)],
  ];
  details.replaceChildren(
    ...fields.flatMap(([k, v]) => [el("dt", k), v instanceof Node ? v : el("dd", v)]),
  );
  details.hidden = false;
}

function imageDefText(body) {
  if (!body.image_type) return "none";
  const flags = ["tbyb", "hashed", "signed"].filter((name) => body[name]);
  return [body.image_type, body.cpu, `version ${body.binary_version ?? "none"}`, ...flags]
    .filter(Boolean).join(", ");
}

// A board that takes a not revertible image keeps it even if it fails: the page says so.
function otaCell(body) {
  if (body.revertible) return el("dd", "revertible (try before you buy)");
  const cell = el("dd");
  cell.append(el("span", "not revertible", "badge behind"));
  if (body.ota_problems?.length) cell.append(" ", body.ota_problems.join("; "));
  return cell;
}
