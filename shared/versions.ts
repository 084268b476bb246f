/** Version compatibility between a worker and the server: same major.minor, any patch. */

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/;

/** Why a worker of version `worker` may not join a server of version `server`, or undefined. */
export function versionProblem(worker: string, server: string): string | undefined {
  const w = SEMVER.exec(worker);
  const s = SEMVER.exec(server)!;
  if (!w) return `worker version "${worker.slice(0, 64)}" is not a version like 1.2.3; the server runs ${server}`;
  if (w[1] !== s[1] || w[2] !== s[2]) {
    return `worker version ${worker} is not compatible with server version ${server}: major.minor must match (${s[1]}.${s[2]}.x)`;
  }
  return undefined;
}

/** The worker versions a server of this version accepts, in words. */
export function acceptedVersions(server: string): string {
  const s = SEMVER.exec(server)!;
  return `${s[1]}.${s[2]}.x`;
}
