// Amounts are integers in minor units with an ISO currency (DESIGN.md, money model).

/** The number of minor units in one major unit of `currency` (2 for USD, 0 for JPY). */
export function minorDigits(currency) {
  try {
    return new Intl.NumberFormat('en', {style: 'currency', currency}).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** "$5.00" for (500, "USD"); never a float in what we send, only in what we show. */
export function formatAmount(amount, currency = 'USD') {
  const value = Number(amount) || 0;
  try {
    const format = new Intl.NumberFormat(undefined, {style: 'currency', currency});
    return format.format(value / 10 ** format.resolvedOptions().maximumFractionDigits);
  } catch {
    return `${value} ${currency}`;
  }
}

/** Minor units from what a person typed ("5", "5.5", "5,50"); null when it is not an amount. */
export function parseAmount(text, currency = 'USD') {
  const clean = String(text).trim().replace(',', '.');
  if (!/^\d{1,7}(\.\d{0,2})?$/.test(clean)) return null;
  const digits = minorDigits(currency);
  const [whole, frac = ''] = clean.split('.');
  if (frac.length > digits) return null;
  return Number(whole) * 10 ** digits + Number((frac + '00').slice(0, digits) || 0);
}
