export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Each hex digit's value by its char code; -1 for any other character. */
const DIGIT_VALUES = Int8Array.from({ length: 128 }, (_, code) => {
  const char = String.fromCharCode(code);
  return /^[0-9a-fA-F]$/.test(char) ? Number.parseInt(char, 16) : -1;
});

/** Callers pass only strings already checked to be even-length hex. */
export function hexToBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) {
    const high = DIGIT_VALUES[hex.charCodeAt(i * 2)] ?? -1;
    const low = DIGIT_VALUES[hex.charCodeAt(i * 2 + 1)] ?? -1;
    // A pair that is not two digits reads as parseInt reads it.
    bytes[i] = high >= 0 && low >= 0 ? high * 16 + low : Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}
