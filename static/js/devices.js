// The session page's device check: choose a microphone and camera before the
// hour, hear (see) that they work. The room's call uses the same choice.
import { canCall, chooseDevice, chosenDevices, deviceError, levelMeter, stopStream } from "./media.js";

const box = document.getElementById("device-check");
const $ = (id) => document.getElementById(id);
let stream = null;
let stopMeter = null;

function stop() {
  if (stopMeter) stopMeter();
  stopMeter = null;
  stopStream(stream);
  stream = null;
  $("device-level").value = 0;
  $("device-preview").srcObject = null;
  $("device-preview").hidden = true;
  $("device-test").textContent = "Test microphone and camera";
  $("device-test").setAttribute("aria-pressed", "false");
}

async function fillChoices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const chosen = chosenDevices();
  for (const [kind, select, saved] of [
    ["audioinput", $("device-microphone"), chosen.microphone],
    ["videoinput", $("device-camera"), chosen.camera],
  ]) {
    select.replaceChildren();
    const found = devices.filter((d) => d.kind === kind);
    found.forEach((device, i) => {
      const option = new Option(device.label || `${kind === "audioinput" ? "Microphone" : "Camera"} ${i + 1}`, device.deviceId);
      option.selected = device.deviceId === saved;
      select.append(option);
    });
    select.disabled = found.length === 0;
    if (found.length === 0) select.append(new Option("None found", ""));
  }
}

async function test() {
  if (stream) {
    stop();
    return;
  }
  $("device-message").textContent = "";
  try {
    const microphone = $("device-microphone").value;
    const camera = $("device-camera").value;
    stream = await navigator.mediaDevices.getUserMedia({
      audio: microphone ? { deviceId: { exact: microphone } } : true,
      video: $("device-camera-on").checked ? (camera ? { deviceId: { exact: camera } } : true) : false,
    });
  } catch (error) {
    $("device-message").textContent = deviceError(error);
    return;
  }
  await fillChoices(); // labels are only given once access is allowed
  stopMeter = levelMeter(stream, (level) => {
    $("device-level").value = level;
  });
  if (stream.getVideoTracks().length) {
    $("device-preview").srcObject = stream;
    $("device-preview").hidden = false;
  }
  $("device-test").textContent = "Stop the test";
  $("device-test").setAttribute("aria-pressed", "true");
  $("device-message").textContent = "Speak: the bar moves when Ally hears you.";
}

if (box) {
  if (!canCall()) {
    $("device-message").textContent = "This browser cannot make calls; use your meeting link for the session.";
    $("device-test").disabled = true;
  } else {
    fillChoices();
    $("device-test").addEventListener("click", test);
    $("device-camera-on").addEventListener("change", () => {
      if (stream) {
        stop();
        test(); // show (or drop) the camera at once
      }
    });
    for (const select of [$("device-microphone"), $("device-camera")]) {
      select.addEventListener("change", async () => {
        chooseDevice(select.id === "device-microphone" ? "audioinput" : "videoinput", select.value);
        if (stream) {
          stop();
          await test(); // hear the new one at once
        }
        $("device-message").textContent = "Saved: the room uses this one.";
      });
    }
  }
}
