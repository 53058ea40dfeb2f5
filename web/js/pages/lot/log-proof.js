// The lot page's line about the public log: the lot's public proof (GET /lots/{id}/proof),
// checked here in the browser against the log's key (GET /log/key) by ../../proof-check.js,
// says "History verified against the public log (size N, HH:MM UTC)", or plainly why not.
// A lot's newest events join the log within a minute: while the lot shown has events the
// last check did not prove, it checks again, at most every RECHECK_MS.

import { ApiError } from "../../api.js";
import { $, setText } from "../../dom.js";
import { checkLotProof, ProofError } from "../../proof-check.js";
import { app } from "../../state.js";

const RECHECK_MS = 30_000;

/** @type {Promise<string> | null} the log's key, read once per page load */
let logKey = null;

/** "HH:MM" of an ISO time, in UTC. @param {string} iso */
function utcClock(iso) {
  return new Date(iso).toISOString().slice(11, 16);
}

export class LogProofLine {
  /** @param {string} lotId */
  constructor(lotId) {
    this.lotId = lotId;
    this.checking = false;
    this.provenVersions = 0; // the lot's events the last check proved
    this.lastCheck = 0;
    /** @type {number | undefined} the lot's version shown */
    this.version = undefined;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.stopped = false;
  }

  /** The lot shown is at `version`: check it now, or again later if it has events the last check did not prove. @param {number} version */
  shown(version) {
    this.version = version;
    if (this.stopped || this.checking || this.timer !== null) return;
    if (this.lastCheck && version <= this.provenVersions) return;
    const wait = Math.max(0, this.lastCheck + RECHECK_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, wait);
  }

  async check() {
    this.checking = true;
    this.lastCheck = Date.now();
    /** @type {"verified" | "pending" | "failed"} */
    let state;
    let words;
    try {
      logKey ??= app.api.logKey().then((key) => key.public_key_pem);
      logKey.catch(() => { logKey = null; }); // a failed read is tried again next time
      const [proof, key] = await Promise.all([app.api.lotProof(this.lotId), logKey]);
      const checked = await checkLotProof(proof, key);
      this.provenVersions = checked.versions;
      const when = checked.publishedAt ? `, ${utcClock(checked.publishedAt)} UTC` : "";
      const behind = (this.version ?? 0) - checked.versions;
      state = "verified";
      words = `History verified against the public log (size ${checked.size}${when}).`
        + (behind > 0 ? ` The latest ${behind === 1 ? "change is" : `${behind} changes are`} not in it yet: `
          + "they join it within a minute." : "");
    } catch (failure) {
      [state, words] = explain(failure);
    } finally {
      this.checking = false;
    }
    if (this.stopped) return;
    const line = $("#lot-log");
    line.dataset.state = state;
    setText(line, words);
    if (state !== "failed" && this.version !== undefined) this.shown(this.version);
  }

  destroy() {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
  }
}

/**
 * Why the history could not be verified, in plain words.
 * @param {unknown} failure
 * @returns {["pending" | "failed", string]}
 */
function explain(failure) {
  if (failure instanceof ApiError && (failure.code === "NOT_IN_LOG" || failure.code === "CHECKPOINT_NOT_FOUND")) {
    return ["pending", "Not in the public log yet: a lot's events join it within a minute of being written."];
  }
  if (failure instanceof ProofError) {
    if (failure.kind === "signature") {
      return ["failed", `Could not verify the history: the public log's signature is not valid (${failure.message}).`];
    }
    if (failure.kind === "unavailable") return ["failed", `Could not check the history against the public log: ${failure.message}.`];
    return ["failed", `Could not verify the history: the proof does not match the public log (${failure.message}).`];
  }
  const message = failure instanceof Error ? failure.message : String(failure);
  return ["failed", `Could not check the history against the public log: ${message}.`];
}
