import { call, type ProjectOut } from "../api/client";
import { useViewer } from "../App";
import { Empty, ErrorBanner, GetStarted, Spinner } from "../components/common";
import { formatAgo, formatDate, formatInt } from "../lib/format";
import { useAsync } from "../lib/hooks";
import { Link, projectPath, registryPath } from "../lib/router";

async function allProjects(signal: AbortSignal): Promise<ProjectOut[]> {
  const out: ProjectOut[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: ProjectOut[]; next_cursor: string | null } = await call("get", "/api/v1/projects", {
      query: { limit: 1000, cursor },
      signal,
    });
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < 20000);
  // most recently active first
  return out.sort((a, b) => (b.last_run_at ?? b.created_at).localeCompare(a.last_run_at ?? a.created_at));
}

export function ProjectsPage() {
  const { viewer, loaded } = useViewer();
  const projects = useAsync(allProjects, [viewer?.name]);
  return (
    <div className="page">
      <div className="row" style={{ marginBottom: 12 }}>
        <h1 style={{ margin: 0 }}>Projects</h1>
        <span className="grow" />
        <Link to={registryPath(viewer?.name)}>Model registry →</Link>
      </div>
      {projects.error && <ErrorBanner error={projects.error} onRetry={projects.reload} />}
      {!projects.data && !projects.error && <Spinner />}
      {projects.data && projects.data.length === 0 && (
        <Empty title="No projects yet">
          {loaded && !viewer && (
            <p>
              You are not logged in, and no project here is public. <Link to="/login">Log in</Link> to see yours.
            </p>
          )}
          <GetStarted />
        </Empty>
      )}
      {projects.data && projects.data.length > 0 && (
        <table className="plain">
          <thead>
            <tr>
              <th>Project</th>
              <th>Entity</th>
              <th className="num">Runs</th>
              <th>Last activity</th>
              <th>Created</th>
              <th>Visibility</th>
            </tr>
          </thead>
          <tbody>
            {projects.data.map((p) => (
              <tr key={`${p.entity}/${p.name}`}>
                <td>
                  <Link to={projectPath(p.entity, p.name)}>{p.name}</Link>
                </td>
                <td className="muted">{p.entity}</td>
                <td className="num">{formatInt(p.run_count)}</td>
                <td title={formatDate(p.last_run_at, true)}>{p.last_run_at ? formatAgo(p.last_run_at) : <span className="muted">no runs</span>}</td>
                <td className="muted">{formatDate(p.created_at)}</td>
                <td className="muted">{p.visibility}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
