import fs from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux

/** Resident set size of a process in bytes (VmRSS), or NaN once it has gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system) a process has used so far, its children excluded. */
export function cpuSeconds(pid: number): number {
  return cpuTimes(pid).self;
}

/**
 * CPU seconds (user + system) of a process itself, and of its children it has waited for
 * (cutime + cstime: a worker's job processes, once they have exited and been reaped).
 */
export function cpuTimes(pid: number): { self: number; children: number } {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    return {
      self: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
      children: (Number(fields[13]) + Number(fields[14])) / CLK_TCK,
    };
  } catch {
    return { self: NaN, children: NaN };
  }
}

/** CPU per job, ms, of a set of processes over a window: start() before the jobs, perJob(n) once they ended. */
export function cpuPerJob(pids: number[]): { perJob(jobs: number): { selfMs: number; childrenMs: number } } {
  const sum = () => pids.map(cpuTimes).reduce((a, t) => ({ self: a.self + t.self, children: a.children + t.children }), { self: 0, children: 0 });
  const t0 = sum();
  return {
    perJob(jobs) {
      const t1 = sum();
      const ms = (s: number) => Math.round(((s * 1000) / jobs) * 1000) / 1000;
      return { selfMs: ms(t1.self - t0.self), childrenMs: ms(t1.children - t0.children) };
    },
  };
}

export interface Usage {
  /** Peak and mean RSS over the window, MiB. */
  rssMaxMiB: number;
  rssMeanMiB: number;
  /** CPU used over the window as a share of one core, percent. */
  cpuPercent: number;
  seconds: number;
}

/** Samples a process every `everyMs` until stopped; stop() returns the usage over the window. */
export function sampleUsage(pid: number, everyMs = 250): { stop(): Usage } {
  const t0 = performance.now();
  const c0 = cpuSeconds(pid);
  const rss: number[] = [rssBytes(pid)];
  const timer = setInterval(() => rss.push(rssBytes(pid)), everyMs);
  return {
    stop() {
      clearInterval(timer);
      rss.push(rssBytes(pid));
      const seconds = (performance.now() - t0) / 1000;
      const ok = rss.filter(Number.isFinite);
      const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
      return {
        rssMaxMiB: mib(Math.max(...ok)),
        rssMeanMiB: mib(ok.reduce((a, b) => a + b, 0) / ok.length),
        cpuPercent: Math.round(((cpuSeconds(pid) - c0) / seconds) * 1000) / 10,
        seconds: Math.round(seconds * 10) / 10,
      };
    },
  };
}
