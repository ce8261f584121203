import { createContext, lazy, Suspense, useCallback, useContext, useEffect, useState } from "react";
import { ApiError, call, setUnauthenticatedHandler, type ViewerOut } from "./api/client";
import { Logo, Spinner } from "./components/common";
import { applyTheme, currentTheme, useShortcuts, useTheme } from "./lib/hooks";
import { artifactsPath, isProjectRoute, Link, matchRoute, navigate, projectPath, registryPath, useLocation, type Route } from "./lib/router";
import { LoginPage } from "./pages/Login";
import { ProjectsPage } from "./pages/Projects";
import { WorkspacePage } from "./pages/Workspace";

// The run, compare, teams, artifact and registry pages load on demand: the workspace (what opens
// first from a link and what the benchmarks time) carries only its own code.
const RunPage = lazy(() => import("./pages/RunPage"));
const ComparePage = lazy(() => import("./pages/Compare"));
const TeamsPage = lazy(() => import("./pages/Teams"));
const ArtifactsPage = lazy(() => import("./pages/Artifacts"));
const ArtifactVersionPage = lazy(() => import("./pages/ArtifactVersion"));
const RegistryPage = lazy(() => import("./pages/Registry"));

interface ViewerState {
  viewer: ViewerOut | null; // null: anonymous (public projects only)
  loaded: boolean;
  refresh: () => void;
}

const ViewerContext = createContext<ViewerState>({ viewer: null, loaded: false, refresh: () => {} });
export const useViewer = () => useContext(ViewerContext);

function useViewerState(): ViewerState {
  const [viewer, setViewer] = useState<ViewerOut | null>(null);
  const [loaded, setLoaded] = useState(false);
  const refresh = useCallback(() => {
    call("get", "/api/v1/viewer")
      .then((v) => setViewer(v))
      .catch((e: unknown) => {
        if (!(e instanceof ApiError && e.status === 401)) console.error(e);
        setViewer(null);
      })
      .finally(() => setLoaded(true));
  }, []);
  useEffect(refresh, [refresh]);
  return { viewer, loaded, refresh };
}

export function App() {
  const { pathname, search } = useLocation();
  const route = matchRoute(pathname);
  const viewerState = useViewerState();
  const [theme] = useTheme();
  const [help, setHelp] = useState(false);

  useEffect(() => {
    // Any 401 (a session that expired, a private project) leads to the login page and back.
    setUnauthenticatedHandler(() => {
      if (window.location.pathname !== "/login") {
        navigate(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`);
      }
    });
    return () => setUnauthenticatedHandler(null);
  }, []);
  useEffect(() => {
    document.title = titleOf(route);
  }, [pathname]); // eslint-disable-line react-hooks/exhaustive-deps

  useShortcuts(
    {
      t: () => applyTheme(currentTheme() === "dark" ? "light" : "dark"),
      "?": () => setHelp((h) => !h),
    },
    [],
  );

  return (
    <ViewerContext.Provider value={viewerState}>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="labbook: projects">
          <Logo /> labbook
        </Link>
        <Crumbs route={route} />
        <span className="spacer" />
        <nav>
          <Link to="/" className={route.page === "projects" ? "active" : ""}>
            Projects
          </Link>
          <Link to={registryPath(null)} className={route.page === "registry" || route.page === "model" ? "active" : ""}>
            Registry
          </Link>
          <Link to="/teams" className={route.page === "teams" ? "active" : ""}>
            Teams
          </Link>
        </nav>
        <button className="ghost" title="Theme (t)" aria-label="Toggle dark theme" onClick={() => applyTheme(theme === "dark" ? "light" : "dark")}>
          {theme === "dark" ? "☀" : "☾"}
        </button>
        <Account />
      </header>
      <main style={{ display: "flex", flexDirection: "column", flex: 1, minHeight: 0 }}>
        <Suspense fallback={<div className="page"><Spinner /></div>}>
          <Page route={route} search={search} />
        </Suspense>
      </main>
      {help && <Help onClose={() => setHelp(false)} />}
    </ViewerContext.Provider>
  );
}

function titleOf(r: Route): string {
  switch (r.page) {
    case "workspace":
      return `${r.project} · labbook`;
    case "run":
      return `${r.run} · ${r.project} · labbook`;
    case "compare":
      return `compare · ${r.project} · labbook`;
    case "artifacts":
      return `artifacts · ${r.project} · labbook`;
    case "collection":
      return `${r.name} · ${r.project} · labbook`;
    case "version":
      return `${r.name}:${r.ref} · ${r.project} · labbook`;
    case "registry":
      return r.entity ? `registry · ${r.entity} · labbook` : "Registry · labbook";
    case "model":
      return `${r.model} · registry · labbook`;
    case "login":
      return "Log in · labbook";
    case "teams":
      return "Teams · labbook";
    default:
      return "labbook";
  }
}

/**
 * `run.url` prints `/-/project/runs/id` when the SDK did not know the entity (a local store):
 * the project's entity is looked up among the projects this viewer sees, and the URL replaced.
 */
function ResolveEntity({ project, rest }: { project: string; rest: string }) {
  const [missing, setMissing] = useState(false);
  useEffect(() => {
    call("get", "/api/v1/projects", { query: { limit: 1000 } })
      .then((page) => {
        const hit = page.items.find((p) => p.name === project);
        if (hit) navigate(`/${encodeURIComponent(hit.entity)}/${encodeURIComponent(project)}${rest}${window.location.search}`, { replace: true });
        else setMissing(true);
      })
      .catch(() => setMissing(true));
  }, [project, rest]);
  if (!missing) return <div className="page"><Spinner /></div>;
  return (
    <div className="page">
      <h1>No project {project}</h1>
      <p>
        No project of that name is visible to you. <Link to="/">See the projects</Link>.
      </p>
    </div>
  );
}

function Page({ route, search }: { route: Route; search: string }) {
  if (isProjectRoute(route) && route.entity === "-") {
    // everything after /-/{project}, as the address has it
    const rest = window.location.pathname.split("/").slice(3).join("/");
    return <ResolveEntity project={route.project} rest={rest ? `/${rest}` : ""} />;
  }
  switch (route.page) {
    case "projects":
      return <ProjectsPage />;
    case "login":
      return <LoginPage next={new URLSearchParams(search).get("next")} />;
    case "teams":
      return <TeamsPage />;
    case "workspace":
      return <WorkspacePage key={`${route.entity}/${route.project}`} entity={route.entity} project={route.project} />;
    case "run":
      return <RunPage key={`${route.entity}/${route.project}/${route.run}`} entity={route.entity} project={route.project} run={route.run} />;
    case "compare":
      return <ComparePage entity={route.entity} project={route.project} />;
    case "artifacts":
      return <ArtifactsPage key={`${route.entity}/${route.project}`} entity={route.entity} project={route.project} />;
    case "collection":
      return <ArtifactsPage key={`${route.entity}/${route.project}/${route.name}`} entity={route.entity} project={route.project} name={route.name} />;
    case "version":
      return <ArtifactVersionPage key={`${route.entity}/${route.project}/${route.name}`} entity={route.entity} project={route.project} name={route.name} refName={route.ref} />;
    case "registry":
      return <RegistryPage key={route.entity ?? ""} entity={route.entity} />;
    case "model":
      return <RegistryPage key={`${route.entity}/${route.model}`} entity={route.entity} model={route.model} />;
    default:
      return (
        <div className="page">
          <h1>Not found</h1>
          <p>
            Nothing lives at this address. <Link to="/">See the projects</Link>.
          </p>
        </div>
      );
  }
}

function Crumbs({ route }: { route: Route }) {
  if (route.page === "registry" || route.page === "model") {
    return (
      <div className="crumbs">
        <span>/</span>
        <Link to={registryPath(null)}>registry</Link>
        {route.entity && (
          <>
            <span>/</span>
            <Link to={registryPath(route.entity)}>{route.entity}</Link>
          </>
        )}
        {route.page === "model" && (
          <>
            <span>/</span>
            <span>{route.model}</span>
          </>
        )}
      </div>
    );
  }
  if (!isProjectRoute(route)) return null;
  const artifact = route.page === "artifacts" || route.page === "collection" || route.page === "version";
  return (
    <div className="crumbs">
      <span>/</span>
      <span>{route.entity}</span>
      <span>/</span>
      <Link to={projectPath(route.entity, route.project)}>{route.project}</Link>
      {route.page === "run" && (
        <>
          <span>/</span>
          <span className="mono">{route.run}</span>
        </>
      )}
      {route.page === "compare" && (
        <>
          <span>/</span>
          <span>compare</span>
        </>
      )}
      {artifact && (
        <>
          <span>/</span>
          <Link to={artifactsPath(route.entity, route.project)}>artifacts</Link>
        </>
      )}
      {(route.page === "collection" || route.page === "version") && (
        <>
          <span>/</span>
          <Link to={artifactsPath(route.entity, route.project, route.name)}>{route.name}</Link>
        </>
      )}
      {route.page === "version" && (
        <>
          <span>/</span>
          <span className="mono">{route.ref}</span>
        </>
      )}
    </div>
  );
}

function Account() {
  const { viewer, loaded, refresh } = useViewer();
  if (!loaded) return <span style={{ width: 80 }} />;
  if (!viewer) return <Link to={`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`}>Log in</Link>;
  const logout = async () => {
    try {
      await call("delete", "/api/v1/session");
    } finally {
      refresh();
      navigate("/login");
    }
  };
  return (
    <span className="row small">
      <span className="muted" title={viewer.admin ? "site admin" : undefined}>
        {viewer.name}
      </span>
      <button className="ghost" onClick={logout}>
        Log out
      </button>
    </span>
  );
}

function Help({ onClose }: { onClose: () => void }) {
  const keys: [string, string][] = [
    ["/", "focus the filter bar"],
    ["j / k or ↓ / ↑", "move in the runs table"],
    ["x or space", "select the run under the cursor"],
    ["Enter / o", "open the run"],
    ["Esc", "clear the selection, leave a field"],
    ["c", "compare the selected runs"],
    ["Delete", "delete the selected runs (asks first)"],
    ["t", "dark / light theme"],
    ["?", "this help"],
  ];
  useShortcuts({ Escape: onClose }, [onClose]);
  return (
    <div className="modal-back" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="modal" role="dialog" aria-label="Keyboard shortcuts">
        <h2>Keyboard</h2>
        <table className="plain">
          <tbody>
            {keys.map(([k, what]) => (
              <tr key={k}>
                <td>
                  <span className="kbd">{k}</span>
                </td>
                <td>{what}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <div className="actions">
          <button onClick={onClose}>Close</button>
        </div>
      </div>
    </div>
  );
}
