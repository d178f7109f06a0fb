// The page's shared furniture: the confirmation dialog, the message bar and the token form.

import { ApiError, storeToken, storedToken } from "./api.js";

const $ = (id) => document.getElementById(id);
let rerender = () => {};

/** ``render`` draws the current view again: after an action, or when the token changes. */
export function initShell(render) {
  rerender = render;
  $("flash-close").addEventListener("click", () => ($("flash").hidden = true));
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    storeToken($("token-input").value.trim());
    $("token-input").value = "";
    $("auth-panel").hidden = true;
    refreshTokenButton();
    clearFlash();
    rerender();
  });
  $("forget-token").addEventListener("click", () => {
    storeToken(null);
    refreshTokenButton();
    clearFlash();
    rerender();
  });
  refreshTokenButton();
}

function refreshTokenButton() {
  $("forget-token").hidden = !storedToken();
}

export function refreshView() {
  rerender();
}

export function askForToken(message) {
  $("auth-message").textContent = message;
  $("auth-panel").hidden = false;
  $("token-input").focus();
}

export function flash(message, kind = "error") {
  $("flash-text").textContent = message;
  $("flash").className = `flash ${kind}`;
  $("flash").hidden = false;
}

export function clearFlash() {
  $("flash").hidden = true;
}

/** Show the dialog; resolves true when the person confirms, false on Cancel or Escape. */
export function confirmDialog({ title, body, confirmLabel = "Confirm", danger = false }) {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-body").replaceChildren(...[body].flat());
  $("confirm-ok").textContent = confirmLabel;
  $("confirm-ok").className = danger ? "danger" : "primary";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}

/** Ask, then run ``action``; reports the API's answer either way and returns whether it was done. */
export async function confirmThen(options, action, doneMessage) {
  if (!(await confirmDialog(options))) return false;
  try {
    await action();
  } catch (error) {
    reportError(error);
    return false;
  }
  flash(doneMessage, "success");
  return true;
}

export function reportError(error) {
  const message = error instanceof Error ? error.message : String(error);
  flash(message, "error");
  if (error instanceof ApiError && error.status === 401) askForToken(message);
}
