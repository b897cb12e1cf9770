// What counts as text AURA can store. JSON can carry half of a UTF-16 surrogate pair ("\ud800")
// and a NUL character; PostgreSQL refuses both in text and JSONB columns, so every edge that
// accepts text refuses them with one definition.

/** Half of a surrogate pair, not followed or preceded by its other half. */
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when `s` holds a NUL character or half of a surrogate pair. */
export function isUnstorableText(s: string): boolean {
  return s.includes("\u0000") || LONE_SURROGATE.test(s);
}

/** Free text made storable: unpaired surrogates become U+FFFD. */
export function storableText(s: string): string {
  return s.replace(new RegExp(LONE_SURROGATE.source, "g"), "\ufffd");
}
