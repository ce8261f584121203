import { useEffect, useRef, type ReactNode } from "react";

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge ${state}`}>{state}</span>;
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span className="row muted small" role="status">
      <span className="spin" /> {label ?? "Loading…"}
    </span>
  );
}

export function ErrorBanner({ error, onRetry }: { error: Error; onRetry?: () => void }) {
  return (
    <div className="banner error" role="alert">
      <span className="error">{error.message}</span> {onRetry && <button onClick={onRetry}>Retry</button>}
    </div>
  );
}

/** The snippet that gets a first run into this server (shown wherever there is nothing yet). */
export function GetStarted({ project }: { project?: string }) {
  const host = window.location.origin;
  const name = project ?? "my-project";
  return (
    <>
      <p>Install the client, log in to this server, and log a run from any script:</p>
      <pre>{`pip install labbook
labbook login <your API key> --host ${host}`}</pre>
      <pre>{`import labbook

run = labbook.init(project="${name}", config={"lr": 1e-3, "batch_size": 64})
for epoch in range(10):
    labbook.log({"train/loss": 1 / (epoch + 1), "val/accuracy": epoch / 10})
labbook.finish()`}</pre>
      <p className="muted small">
        Create an API key with <code>labbook keys create &lt;user&gt;</code> on the server host, or try it all at once with{" "}
        <code>labbook demo</code>.
      </p>
    </>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h2>{title}</h2>
      {children}
    </div>
  );
}

/** A dialog that traps nothing but Escape and focuses its first button. */
export function Modal({ title, children, onClose }: { title: string; children: ReactNode; onClose: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const on = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    window.addEventListener("keydown", on);
    const first = ref.current?.querySelector<HTMLElement>("[data-autofocus], button, input");
    first?.focus();
    return () => window.removeEventListener("keydown", on);
  }, [onClose]);
  return (
    <div className="modal-back" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="modal" role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <h2>{title}</h2>
        {children}
      </div>
    </div>
  );
}

export function Logo() {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2.2" aria-hidden="true">
      <path d="M3 20 L9 12 L13 15 L21 4" strokeLinecap="round" strokeLinejoin="round" />
      <path d="M3 4v16h18" strokeOpacity=".45" />
    </svg>
  );
}
