// The model registry of an entity (a user or a team): its registered models with their aliases
// (production, staging, ...), and one model's linked versions, each pointing at the artifact
// version it names.

import { useEffect, useState, type FormEvent } from "react";
import { canWrite, getModel, listModels, patchLink, type LinkOut } from "../api/artifacts";
import { ApiError } from "../api/client";
import { useViewer } from "../App";
import { AliasChips, AliasEditor } from "../components/Aliases";
import { Empty, ErrorBanner, Spinner } from "../components/common";
import { formatAgo, formatBytes, formatDate, formatInt } from "../lib/format";
import { useAsync } from "../lib/hooks";
import { artifactsPath, Link, navigate, registryPath } from "../lib/router";
import { RunRef } from "./Artifacts";

function HowToLink({ entity }: { entity: string }) {
  return (
    <>
      <p>
        Open the page of a version of type <code>model</code> (a project's <b>Artifacts</b>, then the version) and press <b>Link to registry…</b>, or link one over the API:
      </p>
      <pre>{`curl -X POST ${window.location.origin}/api/v1/registry/${entity}/<model>/versions \\
  -H "Authorization: Bearer $LABBOOK_API_KEY" -H "Content-Type: application/json" \\
  -d '{"artifact": {"entity": "${entity}", "project": "<project>", "name": "<artifact>", "ref": "latest"},
       "aliases": ["staging"]}'`}</pre>
    </>
  );
}

/** `/registry`: the viewer's own registry; anonymous visitors name an entity (public projects). */
function ChooseEntity() {
  const { viewer, loaded } = useViewer();
  const [name, setName] = useState("");
  useEffect(() => {
    if (viewer) navigate(registryPath(viewer.name), { replace: true });
  }, [viewer]);
  if (!loaded || viewer) return <div className="page"><Spinner /></div>;
  const open = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim()) navigate(registryPath(name.trim()));
  };
  return (
    <div className="page">
      <Empty title="Model registry">
        <p>
          Each user and team has a registry of models. <Link to="/login?next=/registry">Log in</Link> to see yours, or open an entity's:
        </p>
        <form className="row" onSubmit={open}>
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="user or team" aria-label="entity" />
          <button type="submit">Open</button>
        </form>
      </Empty>
    </div>
  );
}

function EntityPicker({ entity }: { entity: string }) {
  const { viewer } = useViewer();
  const names = [...new Set([...(viewer?.entities ?? []).map((e) => e.name), entity])];
  if (names.length < 2) return null;
  return (
    <label>
      Entity
      <select value={entity} onChange={(e) => navigate(registryPath(e.target.value))} aria-label="registry of">
        {names.map((n) => (
          <option key={n}>{n}</option>
        ))}
      </select>
    </label>
  );
}

export function RegistryPage({ entity }: { entity: string }) {
  const models = useAsync((signal) => listModels(entity, signal), [entity]);
  return (
    <div className="page">
      <div className="row" style={{ marginBottom: 12 }}>
        <h1 style={{ margin: 0 }}>Model registry</h1>
        <span className="muted">of {entity}</span>
        <span className="grow" />
        <EntityPicker entity={entity} />
      </div>
      {models.error instanceof ApiError && models.error.status === 404 ? (
        <Empty title={`No registry of ${entity}`}>
          <p>
            {entity} is not a user or team you can read. <Link to={registryPath(null)}>Your registry</Link>.
          </p>
        </Empty>
      ) : models.error ? (
        <ErrorBanner error={models.error} onRetry={models.reload} />
      ) : !models.data ? (
        <Spinner label="Loading models…" />
      ) : !models.data.length ? (
        <Empty title={`${entity} has no registered models yet`}>
          <HowToLink entity={entity} />
        </Empty>
      ) : (
        <table className="plain" aria-label="registered models">
          <thead>
            <tr>
              <th>Model</th>
              <th>Aliases</th>
              <th className="num">Versions</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {models.data.map((m) => (
              <tr key={m.name}>
                <td>
                  <Link to={registryPath(entity, m.name)}>{m.name}</Link>
                  {m.description && <div className="muted small clip">{m.description}</div>}
                </td>
                <td>
                  <span className="aliases">
                    {Object.entries(m.aliases)
                      .filter(([alias]) => alias !== "latest")
                      .sort(([a], [b]) => a.localeCompare(b))
                      .map(([alias, version]) => (
                        <Link key={alias} to={registryPath(entity, m.name)} className="alias" title={`${alias} → ${version}`}>
                          {alias} <span className="muted">→ {version}</span>
                        </Link>
                      ))}
                    {!Object.keys(m.aliases).some((a) => a !== "latest") && <span className="muted small">none</span>}
                  </span>
                </td>
                <td className="num">{formatInt(m.version_count)}</td>
                <td title={formatDate(m.created_at, true)}>{formatAgo(m.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function ModelPage({ entity, model }: { entity: string; model: string }) {
  const { viewer } = useViewer();
  const loaded = useAsync((signal) => getModel(entity, model, signal), [entity, model]);
  const [links, setLinks] = useState<LinkOut[] | null>(null);
  useEffect(() => setLinks(loaded.data?.versions ?? null), [loaded.data]);
  const editable = canWrite(viewer, entity);

  if (loaded.error instanceof ApiError && loaded.error.status === 404) {
    return (
      <div className="page">
        <Empty title={`No model ${model}`}>
          <p>
            {entity}'s registry holds no model of that name (or you cannot see it). <Link to={registryPath(entity)}>See {entity}'s models</Link>.
          </p>
        </Empty>
      </div>
    );
  }
  if (loaded.error) {
    return (
      <div className="page">
        <ErrorBanner error={loaded.error} onRetry={loaded.reload} />
      </div>
    );
  }
  if (!loaded.data || !links) return <div className="page"><Spinner /></div>;
  const m = loaded.data;
  const save = (link: LinkOut) => async (aliases: string[]) => {
    const out = await patchLink(entity, model, link.version, aliases);
    // an alias moved here leaves the version that held it
    setLinks((old) => (old ?? []).map((l) => (l.version === out.version ? out : { ...l, aliases: l.aliases.filter((a) => !out.aliases.includes(a)) })));
  };
  return (
    <div className="page">
      <div className="row" style={{ marginBottom: 6 }}>
        <h1 style={{ margin: 0 }}>{m.name}</h1>
        <span className="muted">
          in <Link to={registryPath(entity)}>{entity}'s registry</Link> · {formatInt(m.version_count)} version{m.version_count === 1 ? "" : "s"}
        </span>
      </div>
      {m.description && <p>{m.description}</p>}
      {!links.length ? (
        <Empty title="No linked versions">
          <HowToLink entity={entity} />
        </Empty>
      ) : (
        <table className="plain" aria-label="model versions">
          <thead>
            <tr>
              <th>Version</th>
              <th>Aliases</th>
              <th>Artifact version</th>
              <th className="num">Size</th>
              <th>Logged by</th>
              <th>Linked</th>
            </tr>
          </thead>
          <tbody>
            {links.map((l) => {
              const a = l.artifact;
              return (
                <tr key={l.version}>
                  <td className="mono">{l.version}</td>
                  <td>
                    <AliasEditor aliases={l.aliases} editable={editable} onSave={save(l)} label={`aliases of ${m.name}:${l.version}`} />
                  </td>
                  <td>
                    <Link to={artifactsPath(a.entity, a.project, a.name, a.version)}>
                      {a.name}:{a.version}
                    </Link>{" "}
                    <span className="muted small">
                      {a.type} · {a.entity}/{a.project}
                    </span>
                    {a.aliases.length > 0 && (
                      <div>
                        <AliasChips aliases={a.aliases} />
                      </div>
                    )}
                  </td>
                  <td className="num">{formatBytes(a.size)}</td>
                  <td>
                    <RunRef run={a.logged_by} />
                  </td>
                  <td title={formatDate(l.linked_at, true)}>{formatAgo(l.linked_at)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

export default function RegistryRoute({ entity, model }: { entity: string | null; model?: string }) {
  if (entity === null) return <ChooseEntity />;
  return model === undefined ? <RegistryPage entity={entity} /> : <ModelPage entity={entity} model={model} />;
}
