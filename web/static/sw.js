/* Switchyard service worker, served by the kernel at /ui/sw.js (scope /ui/).
 *
 * - install: precache the offline page and the shell's static assets;
 * - activate: delete caches of older versions;
 * - navigations: network first, then the cached copy of that page, then the
 *   offline page; responses marked Cache-Control: no-store are never cached;
 * - /static/ assets: cache first (bump VERSION whenever a precached file
 *   changes, or serve assets under versioned URLs);
 * - everything else (API calls, htmx requests, POSTs): untouched.
 */
"use strict";

const VERSION = "v1";
const PREFIX = "switchyard-";
const STATIC_CACHE = `${PREFIX}static-${VERSION}`;
const PAGE_CACHE = `${PREFIX}pages-${VERSION}`;
const MAX_PAGES = 40;
const OFFLINE_URL = "/ui/offline";

const PRECACHE = [
  OFFLINE_URL,
  "/static/web/css/switchyard.css",
  "/static/web/vendor/htmx.min.js",
  "/static/web/js/app.js",
  "/static/web/icons/favicon.svg",
  "/static/web/icons/sprite.svg",
  "/static/web/icons/icon-192.png",
  "/static/web/icons/icon-512.png",
  "/static/web/icons/icon-maskable-512.png",
  "/static/web/icons/apple-touch-icon-180.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(STATIC_CACHE)
      .then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  const keep = new Set([STATIC_CACHE, PAGE_CACHE]);
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith(PREFIX) && !keep.has(name))
          .map((name) => caches.delete(name))
      ))
      .then(() => self.clients.claim())
  );
});

function cacheable(response) {
  if (!response || !response.ok || response.type !== "basic") return false;
  const cc = response.headers.get("Cache-Control") || "";
  return !/no-store/i.test(cc);
}

async function trim(cache) {
  const keys = await cache.keys();
  for (const key of keys.slice(0, Math.max(0, keys.length - MAX_PAGES))) {
    await cache.delete(key);
  }
}

async function networkFirstPage(request) {
  try {
    const response = await fetch(request);
    if (cacheable(response) && !response.redirected) {
      const cache = await caches.open(PAGE_CACHE);
      await cache.put(request, response.clone());
      trim(cache);
    }
    return response;
  } catch (err) {
    const cached = await caches.match(request, { cacheName: PAGE_CACHE });
    if (cached) return cached;
    const offline = await caches.match(OFFLINE_URL, { cacheName: STATIC_CACHE });
    return offline || Response.error();
  }
}

async function cacheFirstAsset(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (cacheable(response)) {
    const cache = await caches.open(STATIC_CACHE);
    cache.put(request, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (request.mode === "navigate") {
    if (url.pathname.startsWith("/ui/") || url.pathname === "/ui") {
      event.respondWith(networkFirstPage(request));
    }
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirstAsset(request));
  }
});
