/** Parsing of CLI option strings with errors that name the option and the expected value. */

export function parseJsonOption(flag: string, text: string | undefined): unknown {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${flag} is not valid JSON (${(e as Error).message}); expected an object such as '{"key": 1}'`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error(`${flag} must be a JSON object, got ${text}`);
  return value;
}

export function parseNumber(flag: string, text: string): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v)) throw new Error(`${flag} must be a number, got '${text}'`);
  return v;
}

export function parseInteger(flag: string, text: string, min: number): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isSafeInteger(v) || v < min) throw new Error(`${flag} must be an integer ≥ ${min}, got '${text}'`);
  return v;
}
