/** Option checks shared by the optimizer, clipping and schedules. Errors name the owner, the option and the value. */

/** Rejects keys outside `allowed`, so a misspelt option (`weight_decay`) fails instead of being ignored. */
export function checkKnownKeys(owner: string, what: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new TypeError(`${owner}: unknown ${what} '${key}' (expected one of: ${allowed.join(", ")})`);
    }
  }
}

export function describe(value: unknown): string {
  if (typeof value === "number") return String(value); // JSON.stringify turns NaN and Infinity into null
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function requireNonNegative(owner: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${owner}: ${name} must be a finite number >= 0, got ${describe(value)}`);
  }
  return value;
}

export function requireNonNegativeInt(owner: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${owner}: ${name} must be an integer >= 0, got ${describe(value)}`);
  }
  return value;
}

export function requirePositiveInt(owner: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${owner}: ${name} must be an integer >= 1, got ${describe(value)}`);
  }
  return value;
}
