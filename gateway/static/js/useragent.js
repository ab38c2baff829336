// A browser's User-Agent as a person reads it: "Chrome on Windows", "Safari on iPhone", "curl". The Account
// page's "Signed in" list shows this, with the whole string as its tooltip. Order matters: Edge and Opera say
// "Chrome" too, Chrome says "Safari", and iPhones say "like Mac OS X".

const BROWSERS = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|Opera)\//, 'Opera'],
  [/\bSamsungBrowser\//, 'Samsung Internet'],
  [/\bVivaldi\//, 'Vivaldi'],
  [/\b(?:Firefox|FxiOS)\//, 'Firefox'],
  [/\bHeadlessChrome\//, 'Chrome (headless)'],
  [/\b(?:Chrome|CriOS)\//, 'Chrome'],
  [/\bChromium\//, 'Chromium'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
];

const SYSTEMS = [
  [/\biPhone\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

/** "Browser on system" for a User-Agent; a tool's own name ("curl", "python-requests") when it is no browser;
 * "Unknown browser" when nothing was sent. */
export function describeUserAgent(userAgent) {
  const text = (userAgent || '').trim();
  if (!text) return 'Unknown browser';
  const browser = (BROWSERS.find(([pattern]) => pattern.test(text)) || [])[1];
  const system = (SYSTEMS.find(([pattern]) => pattern.test(text)) || [])[1];
  if (browser && system) return `${browser} on ${system}`;
  if (browser) return browser;
  if (system) return `A browser on ${system}`;
  // A script or tool: its product name ("curl/8.5.0" → "curl"), bounded for the card.
  const product = text.split(/[\s/;(]/)[0];
  return product ? product.slice(0, 40) : 'Unknown browser';
}
