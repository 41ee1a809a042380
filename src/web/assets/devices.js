"use strict";
// The devices and firmware pages: the boards the hub knows, and the image it offers.

function firmwareCell(device) {
  const cell = el("td", device.firmware_version);
  if (device.behind === true) cell.append(" ", el("span", "update available", "badge behind"));
  if (device.behind === false) cell.append(" ", el("span", "current", "badge current"));
  return cell;
}

// A board's state with the offered image (GET /api/devices, docs/api.md).
const OTA_TEXT = {
  current: "runs it, bought", waiting: "not offered yet", pending: "offered",
  downloading: "downloading", trying: "on trial", bought: "bought",
  reverted: "reverted", failed: "failed",
};
const OTA_BADGE = { current: "current", bought: "current", reverted: "behind", failed: "behind" };

function otaCell(device) {
  const cell = el("td");
  cell.dataset.ota = device.ota?.state ?? "";
  if (!device.ota) {
    cell.textContent = "—";
    return cell;
  }
  const state = device.ota.state;
  cell.append(el("span", OTA_TEXT[state] ?? state, `badge ota ${OTA_BADGE[state] ?? ""}`));
  if (device.ota.reason) cell.append(" ", el("span", device.ota.reason, "reason"));
  return cell;
}

function slotText(device) {
  if (!device.slot) return device.bought === false ? "on trial" : "—";
  return `${device.slot.toUpperCase()}${device.bought === false ? ", on trial" : ""}`;
}

// Where the rollout of the offered image stands, above the table.
function rolloutText(rollout) {
  if (!rollout) return "";
  const image = `Firmware ${rollout.firmware_version}`;
  const canaries = rollout.canaries.length ? rollout.canaries.join(", ") : null;
  const parts = [];
  if (rollout.state === "halted") {
    parts.push(`${image}: rollout halted: ${rollout.halted_by} reverted from it` +
      (rollout.halted_reason ? ` (${rollout.halted_reason}).` : " (no reason given)."),
    "No board is offered it; install another image to start again.");
  } else if (rollout.state === "rolling") {
    parts.push(`${image} is offered to every board` +
      (canaries ? ` (canaries: ${canaries}).` : "."));
  } else {
    const needed = rollout.healthy_heartbeats ?? "?";
    parts.push(canaries
      ? `${image} is offered to the canaries first: ${canaries}; the rest once each has ` +
        `run it, bought, for ${needed} heartbeats in a row.`
      : `${image}: the first board that asks for it becomes the canary.`);
  }
  if (rollout.error) parts.push(`Rollout settings: ${rollout.error}`);
  return parts.join(" ");
}

function showRollout(rollout) {
  const node = document.getElementById("rollout-state");
  node.textContent = rolloutText(rollout);
  node.hidden = !rollout;
  node.dataset.state = rollout?.state ?? "";
  node.dataset.kind = rollout?.state === "halted" || rollout?.error ? "error" : "info";
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
      el("td", device.offered_version ?? "—"),
      otaCell(device),
      el("td", slotText(device)),
      el("td", readings || "—"),
      el("td", device.uptime_s === null ? "—" : `${device.uptime_s} s`),
      el("td", ago(device.last_seen)),
    );
    return row;
  });
  table.tBodies[0].replaceChildren(...rows);
  table.hidden = rows.length === 0;
  showRollout(body.rollout);
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
    ["IMAGE_DEF", imageDefText(body)], ["Over the air", revertibleCell(body)],
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
function revertibleCell(body) {
  if (body.revertible) return el("dd", "revertible (try before you buy)");
  const cell = el("dd");
  cell.append(el("span", "not revertible", "badge behind"));
  if (body.ota_problems?.length) cell.append(" ", body.ota_problems.join("; "));
  return cell;
}
