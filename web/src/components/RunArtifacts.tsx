// The artifacts of one run (the run page's Artifacts tab): the versions it logged (its outputs)
// and the ones it used (its inputs), each linking to its version page.

import { getRunArtifacts, type VersionOut } from "../api/artifacts";
import { formatBytes, formatDate, formatInt } from "../lib/format";
import { useAsync } from "../lib/hooks";
import { artifactsPath, Link, runPath } from "../lib/router";
import { AliasChips } from "./Aliases";
import { Empty, ErrorBanner, Spinner } from "./common";

export function RunArtifactsTab({ entity, project, run }: { entity: string; project: string; run: string }) {
  const data = useAsync((signal) => getRunArtifacts(entity, project, run, signal), [entity, project, run]);
  if (data.error) return <ErrorBanner error={data.error} onRetry={data.reload} />;
  if (!data.data) return <Spinner label="Loading artifacts…" />;
  const { logged, used } = data.data;
  if (!logged.length && !used.length) {
    return (
      <Empty title="No artifacts">
        <p>This run neither logged nor used an artifact. In the script:</p>
        <pre>{`dataset = run.use_artifact("mnist:latest")     # an input: recorded as used by this run
model = labbook.Artifact("classifier", type="model")
model.add_file("model.pt")
run.log_artifact(model)                         # an output: logged by this run`}</pre>
      </Empty>
    );
  }
  return (
    <div className="cols2">
      <section aria-label="used artifacts">
        <h3>Used (inputs)</h3>
        <VersionList versions={used} empty="This run used no artifact." home={{ entity, project }} />
      </section>
      <section aria-label="logged artifacts">
        <h3>Logged (outputs)</h3>
        <VersionList versions={logged} empty="This run logged no artifact." home={{ entity, project }} />
      </section>
      <p className="muted small" style={{ gridColumn: "1 / -1" }}>
        <Link to={runPath(entity, project, run) + "?tab=lineage"}>See the lineage graph →</Link>
      </p>
    </div>
  );
}

function VersionList({ versions, empty, home }: { versions: VersionOut[]; empty: string; home: { entity: string; project: string } }) {
  if (!versions.length) return <p className="muted small">{empty}</p>;
  return (
    <table className="plain">
      <thead>
        <tr>
          <th>Version</th>
          <th>Type</th>
          <th className="num">Size</th>
          <th className="num">Files</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        {versions.map((v) => (
          <tr key={`${v.entity}/${v.project}/${v.name}:${v.version}`}>
            <td>
              <Link to={artifactsPath(v.entity, v.project, v.name, v.version)}>
                {v.name}:{v.version}
              </Link>{" "}
              <AliasChips aliases={v.aliases} />
              {(v.entity !== home.entity || v.project !== home.project) && (
                <div className="muted small">
                  {v.entity}/{v.project}
                </div>
              )}
            </td>
            <td>{v.type}</td>
            <td className="num">{formatBytes(v.size)}</td>
            <td className="num">{formatInt(v.file_count)}</td>
            <td>{formatDate(v.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
