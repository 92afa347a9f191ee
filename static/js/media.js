// The microphone and camera: the devices a student chose (kept in this
// browser), opening them, and a level meter. Used by the session page's check
// and by the room's call.

const MIC_KEY = "ally.call.microphone";
const CAMERA_KEY = "ally.call.camera";
const JOINED_KEY = "ally.call.joined";

export const canCall = () =>
  typeof RTCPeerConnection === "function" && Boolean(navigator.mediaDevices?.getUserMedia);

export function chosenDevices() {
  return { microphone: localStorage.getItem(MIC_KEY) || "", camera: localStorage.getItem(CAMERA_KEY) || "" };
}

export function chooseDevice(kind, deviceId) {
  localStorage.setItem(kind === "audioinput" ? MIC_KEY : CAMERA_KEY, deviceId || "");
}

// "Join the call" is remembered: the next session's room joins by itself.
export const rememberedJoin = () => localStorage.getItem(JOINED_KEY) === "1";
export const rememberJoin = (joined) => localStorage.setItem(JOINED_KEY, joined ? "1" : "0");

const constraint = (deviceId) => (deviceId ? { deviceId: { ideal: deviceId } } : true);

export function openMicrophone() {
  return navigator.mediaDevices.getUserMedia({ audio: constraint(chosenDevices().microphone), video: false });
}

export function openCamera() {
  return navigator.mediaDevices.getUserMedia({ audio: false, video: constraint(chosenDevices().camera) });
}

// Why a device could not be opened, in words a student can act on.
export function deviceError(error) {
  const name = error?.name || "";
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Ally may not use your microphone or camera. Allow it for this site (the icon in the address bar), then try again.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No microphone or camera was found. Plug one in, or choose another on the session page.";
  }
  if (name === "NotReadableError") {
    return "Your microphone or camera is busy in another app. Close it there, then try again.";
  }
  return `The microphone or camera could not be opened (${name || "unknown error"}).`;
}

// Calls onLevel(0..1) about 10 times a second from a stream's audio; returns stop().
export function levelMeter(stream, onLevel) {
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    // RMS scaled so speech sits around the middle of the meter.
    onLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
  }, 100);
  return () => {
    clearInterval(timer);
    source.disconnect();
    context.close();
  };
}

export function stopStream(stream) {
  for (const track of stream?.getTracks() || []) track.stop();
}
