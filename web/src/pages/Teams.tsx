import { useState, type FormEvent } from "react";
import { ApiError, call } from "../api/client";
import { useViewer } from "../App";
import { Empty, Spinner } from "../components/common";
import { useAsync } from "../lib/hooks";
import { Link } from "../lib/router";

type Role = "admin" | "member" | "viewer";

export default function TeamsPage() {
  const { viewer, loaded, refresh } = useViewer();
  const [name, setName] = useState("");
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);

  if (!loaded) return <div className="page"><Spinner /></div>;
  if (!viewer) {
    return (
      <div className="page">
        <Empty title="Log in to see your teams">
          <p>
            Teams share projects between users, with admin, member and viewer roles. <Link to="/login?next=/teams">Log in</Link>.
          </p>
        </Empty>
      </div>
    );
  }
  const teams = viewer.entities.filter((e) => e.name !== viewer.name);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await call("post", "/api/v1/teams", { body: { name } });
      setMsg({ ok: true, text: `Created team ${name}; you are its admin.` });
      setName("");
      refresh();
    } catch (err) {
      setMsg({ ok: false, text: err instanceof ApiError ? err.message : String(err) });
    }
  };

  return (
    <div className="page">
      <h1>Teams</h1>
      <p className="muted">
        You are <b>{viewer.name}</b>
        {viewer.admin ? " (site admin)" : ""}. Runs go to an entity: your own name or a team's (<code>labbook.init(entity="team")</code>).
      </p>
      {teams.length === 0 ? (
        <p>You are in no team yet. Create one below, then add its members.</p>
      ) : (
        <table className="plain" style={{ maxWidth: 900 }}>
          <thead>
            <tr>
              <th>Team</th>
              <th>Your role</th>
              <th>Members</th>
            </tr>
          </thead>
          <tbody>
            {teams.map((t) => (
              <tr key={t.name}>
                <td>{t.name}</td>
                <td>{t.role}</td>
                <td>
                  <Members team={t.name} manage={t.role === "admin" || viewer.admin} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>New team</h2>
      <form className="row" onSubmit={create}>
        <input placeholder="team name" value={name} onChange={(e) => setName(e.target.value)} pattern="[A-Za-z0-9_.\-]{1,128}" required aria-label="team name" />
        <button className="primary" type="submit">
          Create team
        </button>
      </form>
      {msg && <p className={msg.ok ? "" : "error"}>{msg.text}</p>}
    </div>
  );
}

/** The team's members (any member may see them), and the form its admins manage them with. */
function Members({ team, manage }: { team: string; manage: boolean }) {
  const [version, setVersion] = useState(0);
  const members = useAsync((signal) => call("get", "/api/v1/teams/{team}/members", { path: { team }, signal }), [team, version]);
  return (
    <div>
      {members.error ? (
        <span className="error small">{members.error.message}</span>
      ) : !members.data ? (
        <Spinner />
      ) : (
        <ul className="members" aria-label={`members of ${team}`}>
          {members.data.map((m) => (
            <li key={m.user}>
              {m.user} <span className="muted small">{m.role}</span>
            </li>
          ))}
        </ul>
      )}
      {manage ? <MemberForm team={team} onChange={() => setVersion((v) => v + 1)} /> : <span className="muted small">admins manage members</span>}
    </div>
  );
}

function MemberForm({ team, onChange }: { team: string; onChange: () => void }) {
  const [user, setUser] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const act = async (remove: boolean) => {
    if (!user) return;
    try {
      if (remove) {
        await call("delete", "/api/v1/teams/{team}/members/{user}", { path: { team, user } });
        setMsg({ ok: true, text: `${user} removed` });
      } else {
        const out = await call("put", "/api/v1/teams/{team}/members/{user}", { path: { team, user }, body: { role } });
        setMsg({ ok: true, text: `${out.user} is ${out.role}` });
      }
      onChange();
    } catch (err) {
      setMsg({ ok: false, text: err instanceof ApiError ? err.message : String(err) });
    }
  };
  return (
    <form
      className="row"
      onSubmit={(e) => {
        e.preventDefault();
        void act(false);
      }}
    >
      <input placeholder="user" value={user} onChange={(e) => setUser(e.target.value)} aria-label={`user to add to ${team}`} style={{ width: 130 }} />
      <select value={role} onChange={(e) => setRole(e.target.value as Role)} aria-label="role">
        <option value="viewer">viewer</option>
        <option value="member">member</option>
        <option value="admin">admin</option>
      </select>
      <button type="submit">Add / set role</button>
      <button type="button" className="danger" onClick={() => void act(true)}>
        Remove
      </button>
      {msg && <span className={`small ${msg.ok ? "muted" : "error"}`}>{msg.text}</span>}
    </form>
  );
}
