// The preview of one stored file (a run's or an artifact version's): an image as itself, text as
// its first 64 KiB (`?preview=1`), anything else as a note to download it.

import { previewFile } from "../api/dashboard";
import { formatBytes } from "../lib/format";
import { useAsync } from "../lib/hooks";
import { ErrorBanner, Spinner } from "./common";

const TEXT = /\.(txt|log|json|jsonl|ya?ml|py|md|csv|tsv|patch|diff|toml|cfg|ini|sh|js|ts|html|xml|r|ipynb|rst|out|err)$/i;
const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg)$/i;

/** Text by its name (or a name without an extension: README, LICENSE, requirements). */
export function isTextPath(path: string): boolean {
  return TEXT.test(path) || !/\.[^/]+$/.test(path);
}

export function isImagePath(path: string): boolean {
  return IMAGE.test(path);
}

/** `url` is the file's own URL (no query); `size` its length in bytes. */
export function FilePreviewBody({ url, path, size }: { url: string; path: string; size: number }) {
  const isText = isTextPath(path);
  const isImage = isImagePath(path);
  const text = useAsync(async (signal) => (isText ? previewFile(url, signal) : null), [url, isText]);
  if (isImage) {
    return (
      <div className="preview">
        <img src={url} alt={path} />
      </div>
    );
  }
  if (!isText) return <p className="muted">No preview for this kind of file; download it.</p>;
  if (text.error) return <ErrorBanner error={text.error} />;
  if (!text.data) return <Spinner />;
  return (
    <>
      <pre className="preview">{text.data.text}</pre>
      {text.data.truncated && <p className="muted small">The first 64 KiB of {formatBytes(size)}: download the file for the rest.</p>}
    </>
  );
}
