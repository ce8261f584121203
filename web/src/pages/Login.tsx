import { useState, type FormEvent } from "react";
import { ApiError, send } from "../api/client";
import { useViewer } from "../App";
import { navigate } from "../lib/router";

export function LoginPage({ next }: { next: string | null }) {
  const { refresh } = useViewer();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await send("post", "/api/v1/session", { body: { username, password }, quiet401: true });
      refresh();
      // only a path of this app, never another origin
      navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
    } catch (err) {
      setError(
        err instanceof ApiError
          ? err.status === 401
            ? "Wrong user name or password."
            : err.status === 429
              ? "Too many failed attempts: wait a minute and try again."
              : err.message
          : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <div className="login card pad">
        <h1>Log in to labbook</h1>
        <form onSubmit={submit}>
          <label htmlFor="user">User name</label>
          <input id="user" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus required />
          <label htmlFor="password">Password</label>
          <input id="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
          {error && (
            <div className="error small" role="alert">
              {error}
            </div>
          )}
          <button className="primary" type="submit" disabled={busy}>
            {busy ? "Logging in…" : "Log in"}
          </button>
        </form>
        <p className="muted small">
          No password yet? An admin sets one on the server host: <code>labbook users create NAME --password-stdin</code>.
        </p>
      </div>
    </div>
  );
}
