// Checks a lot's proof from the public log in the browser, by docs/PROOFS.md and nothing of
// the server's word: the checkpoint's signature (ECDSA P-256 over SHA-256, with the log's key
// from GET /log/key), each event's place in the lot's hash chain, and each event's leaf up to
// the checkpoint's root (RFC 9162 inclusion proofs). Web Crypto does the SHA-256 and ECDSA;
// it wants the signature as r||s, so the DER one a signed note carries is converted first.
// An event's body, when shown, is only hashed (its fields are not read); null is an event
// whose body is not public, proven by its hash and its inclusion.

const PROOF_FORMAT = "samsold.lot-proof/v1";
const GENESIS_HASH = "0".repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const SIZE = /^(0|[1-9][0-9]{0,15})$/;
const DASH = "\u2014";
const encoder = new TextEncoder();

/** Bytes over a plain ArrayBuffer, as Web Crypto takes them. @typedef {Uint8Array<ArrayBuffer>} Bytes */

/**
 * A lot proof as GET /lots/{lot_id}/proof answers it.
 * @typedef {object} LotProof
 * @property {string} format
 * @property {string} origin
 * @property {string} checkpoint  the signed note, verbatim
 * @property {string} lot_id
 * @property {ProofEvent[]} events
 * @property {string} [checkpoint_published_at]  when the log signed the checkpoint (its word; not signed)
 */

/**
 * @typedef {object} ProofEvent
 * @property {number} version
 * @property {number} log_index
 * @property {string} prev_hash
 * @property {string} hash
 * @property {string | null} body
 * @property {string[]} inclusion  base64, leaf side first
 */

/**
 * A checked proof.
 * @typedef {object} CheckedProof
 * @property {string} origin
 * @property {number} size  the checkpoint's tree size
 * @property {number} versions  the lot's events it proves, versions 1 to this
 * @property {string | null} publishedAt
 */

/** Why a proof was refused: "signature" (the checkpoint is not signed by the key), "mismatch" (the proof does not hold), "unavailable" (no Web Crypto here). */
export class ProofError extends Error {
  /**
   * @param {"signature" | "mismatch" | "unavailable"} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/**
 * @param {string} message
 * @returns {ProofError}
 */
const mismatch = (message) => new ProofError("mismatch", message);

/**
 * @param {string} text  standard base64
 * @param {string} what
 * @returns {Bytes}
 */
function fromBase64(text, what) {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw mismatch(`${what} is not base64`);
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** @param {Bytes} bytes */
function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * @param {Bytes} a
 * @param {Bytes} b
 */
function same(a, b) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** @param {...Bytes} parts */
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * @param {SubtleCrypto} subtle
 * @param {Bytes} data
 * @returns {Promise<Bytes>}
 */
async function sha256(subtle, data) {
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

/**
 * The DER bytes of a PEM public key (SubjectPublicKeyInfo).
 * @param {string} pem
 * @returns {Bytes}
 */
export function pemToDer(pem) {
  const body = String(pem).replace(/-----(BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, "");
  try {
    return fromBase64(body, "the log's key");
  } catch {
    throw new ProofError("signature", "the log's key is not a PEM public key");
  }
}

/**
 * An ECDSA signature in ASN.1 DER (SEQUENCE of INTEGER r, INTEGER s) as the r||s Web Crypto
 * verifies (IEEE P1363): each integer without its sign byte, left-padded to `size` bytes.
 * @param {Bytes} der
 * @param {number} [size]  bytes per integer: 32 for P-256
 * @returns {Bytes}
 */
export function derToRaw(der, size = 32) {
  const bad = () => new ProofError("signature", "the signature is not an ECDSA signature in DER");
  let offset = 0;
  const byte = () => {
    if (offset >= der.length) throw bad();
    return der[offset++];
  };
  if (byte() !== 0x30) throw bad();
  let length = byte();
  if (length === 0x81) length = byte(); // the long form; a P-256 signature is at most 72 bytes
  else if (length & 0x80) throw bad();
  if (offset + length !== der.length) throw bad();
  const raw = new Uint8Array(2 * size);
  for (const half of [0, 1]) {
    if (byte() !== 0x02) throw bad();
    const n = byte();
    if (n === 0 || n & 0x80 || offset + n > der.length) throw bad();
    let value = der.subarray(offset, offset + n);
    offset += n;
    while (value.length > size && value[0] === 0) value = value.subarray(1);
    if (value.length > size) throw bad();
    raw.set(value, half * size + size - value.length);
  }
  if (offset !== der.length) throw bad();
  return raw;
}

/**
 * A signed note's checkpoint (c2sp.org/tlog-checkpoint) and its signature lines, unchecked.
 * @param {string} note
 */
export function parseCheckpoint(note) {
  const refused = (/** @type {string} */ why) => new ProofError("signature", `the checkpoint is refused: ${why}`);
  const split = typeof note === "string" ? note.indexOf("\n\n") : -1;
  if (split < 0 || !note.endsWith("\n")) throw refused("not a signed note");
  const text = note.slice(0, split + 1);
  const [origin, size, root] = text.split("\n");
  if (!origin || /\s|\+/.test(origin) || !SIZE.test(size ?? "")) throw refused("no origin and size");
  let rootHash;
  try {
    rootHash = fromBase64(root ?? "", "the root hash");
  } catch {
    throw refused("the root hash is not base64");
  }
  if (rootHash.length !== 32) throw refused("the root hash is not 32 bytes");
  const signatures = note.slice(split + 2, -1).split("\n").map((line) => {
    const parts = line.split(" ");
    if (parts.length !== 3 || parts[0] !== DASH) throw refused(`a bad signature line`);
    try {
      return { name: parts[1], blob: fromBase64(parts[2], "a signature") };
    } catch {
      throw refused("a signature is not base64");
    }
  });
  return { origin, size: Number(size), root: rootHash, text, signatures };
}

/**
 * The checkpoint of a note signed by the key (PEM), or a ProofError of kind "signature".
 * @param {SubtleCrypto} subtle
 * @param {string} note
 * @param {string} keyPem
 */
export async function verifyCheckpoint(subtle, note, keyPem) {
  const checkpoint = parseCheckpoint(note);
  const spki = pemToDer(keyPem);
  const keyId = (await sha256(subtle, spki)).subarray(0, 4);
  let key;
  try {
    key = await subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  } catch {
    throw new ProofError("signature", "the log's key is not an ECDSA P-256 key");
  }
  const message = encoder.encode(checkpoint.text);
  for (const { name, blob } of checkpoint.signatures) {
    if (name !== checkpoint.origin || blob.length < 5 || !same(blob.subarray(0, 4), keyId)) continue;
    let raw;
    try {
      raw = derToRaw(blob.subarray(4));
    } catch {
      continue;
    }
    if (await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, message)) return checkpoint;
  }
  throw new ProofError("signature", "the checkpoint's signature is not valid for the log's key");
}

/**
 * RFC 9162 section 2.1.3.2: the leaf's hash reaches the root through the proof. Indices may
 * pass 2^31, so halving is arithmetic, not bit shifts.
 * @param {SubtleCrypto} subtle
 * @param {Bytes} leafHash
 * @param {number} index
 * @param {number} size
 * @param {Bytes[]} proof
 * @param {Bytes} root
 */
export async function verifyInclusion(subtle, leafHash, index, size, proof, root) {
  if (!(index >= 0 && index < size)) throw mismatch("the leaf's index is outside the tree");
  const node = (/** @type {Bytes} */ left, /** @type {Bytes} */ right) =>
    sha256(subtle, concat(Uint8Array.of(1), left, right));
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) throw mismatch("the inclusion proof is too long");
    if (fn % 2 === 1 || fn === sn) {
      r = await node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0 || !same(r, root)) throw mismatch("the inclusion proof does not lead to the checkpoint's root");
}

/**
 * Every check of docs/PROOFS.md ("Checking a proof", steps 1 and 2) on a lot proof.
 * @param {LotProof} proof
 * @param {string} keyPem  the log's public key, PEM
 * @param {SubtleCrypto | undefined} [subtle]  Web Crypto's (only on https pages and localhost)
 * @returns {Promise<CheckedProof>}
 */
export async function checkLotProof(proof, keyPem, subtle = globalThis.crypto?.subtle) {
  if (!subtle) throw new ProofError("unavailable", "this browser offers no Web Crypto on this page (it needs https)");
  if (!proof || proof.format !== PROOF_FORMAT) throw mismatch(`not a ${PROOF_FORMAT} document`);
  const checkpoint = await verifyCheckpoint(subtle, proof.checkpoint, keyPem);
  if (proof.origin !== checkpoint.origin) throw mismatch("the proof's origin is not its checkpoint's");
  const events = Array.isArray(proof.events) ? proof.events : [];
  if (events.length === 0) throw mismatch("the proof has no events");
  let prevHash = GENESIS_HASH;
  let lastIndex = -1;
  for (const [position, event] of events.entries()) {
    const version = position + 1;
    const at = (/** @type {string} */ what) => mismatch(`version ${version}: ${what}`);
    if (event?.version !== version) throw at("the events are not versions 1, 2, 3, … in order");
    if (event.prev_hash !== prevHash) throw at("prev_hash is not the previous event's hash");
    if (typeof event.hash !== "string" || !HEX64.test(event.hash)) throw at("hash is not 64 lowercase hex digits");
    if (event.body !== null && event.body !== undefined) {
      const computed = typeof event.body === "string" ? toHex(await sha256(subtle, encoder.encode(`${prevHash}\n${event.body}`))) : "";
      if (computed !== event.hash) throw at("the body does not hash to the event's hash");
    }
    const index = event.log_index;
    if (!Number.isSafeInteger(index) || index <= lastIndex || index >= checkpoint.size) {
      throw at(`log_index is not after the previous event's and inside size ${checkpoint.size}`);
    }
    if (!Array.isArray(event.inclusion)) throw at("no inclusion proof");
    const leaf = encoder.encode(`samsold/event/v1 ${proof.lot_id} ${version} ${event.hash}\n`);
    try {
      await verifyInclusion(subtle, await sha256(subtle, concat(Uint8Array.of(0), leaf)), index, checkpoint.size,
        event.inclusion.map((step) => fromBase64(step, "an inclusion step")), checkpoint.root);
    } catch (error) {
      throw at(error instanceof Error ? error.message : String(error));
    }
    prevHash = event.hash;
    lastIndex = index;
  }
  return {
    origin: checkpoint.origin, size: checkpoint.size, versions: events.length,
    publishedAt: typeof proof.checkpoint_published_at === "string" ? proof.checkpoint_published_at : null,
  };
}
