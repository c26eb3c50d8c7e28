// A small router over the History API: the console's paths are relative to BASE_PATH (the
// public URL's path), so it works behind a prefix.
import { useEffect, useState } from 'react';
import { BASE_PATH } from './api';

const listeners = new Set<() => void>();

export function currentPath(): string {
  const path = window.location.pathname;
  return '/' + (path.startsWith(BASE_PATH) ? path.slice(BASE_PATH.length) : path.replace(/^\//, ''));
}

export function href(path: string): string {
  return BASE_PATH + path.replace(/^\//, '');
}

export function navigate(path: string, replace = false) {
  const url = href(path);
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  listeners.forEach((listener) => listener());
  window.scrollTo(0, 0);
}

export function usePath(): string {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const update = () => setPath(currentPath());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

export function query(name: string): string | null {
  return new URLSearchParams(window.location.search).get(name);
}
