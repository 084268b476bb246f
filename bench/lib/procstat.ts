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

/** The processes a process has started that still run (Linux: the main thread's children). */
function liveChildren(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU per job, ms, of a set of processes over a window: start() before the jobs, perJob(n) once they
 * ended. A long-lived process one of them started (the worker's spawn helper) counts as part of it,
 * and the processes that one reaped (the jobs it started) as its children.
 */
export function cpuPerJob(pids: number[]): { perJob(jobs: number): { selfMs: number; childrenMs: number } } {
  const total = (ps: number[]) => ps.map(cpuTimes).filter((t) => Number.isFinite(t.self)).reduce((a, t) => ({ self: a.self + t.self, children: a.children + t.children }), { self: 0, children: 0 });
  // Only a process running at both ends of the window is a helper; a job's process comes and goes.
  const helpers0 = new Set(pids.flatMap(liveChildren));
  const t0 = total(pids);
  const h0 = new Map([...helpers0].map((p) => [p, cpuTimes(p)]));
  return {
    perJob(jobs) {
      const t1 = total(pids);
      for (const p of new Set(pids.flatMap(liveChildren))) {
        const before = h0.get(p);
        const after = cpuTimes(p);
        if (!before || !Number.isFinite(after.self)) continue;
        t1.self += after.self - before.self;
        t1.children += after.children - before.children;
      }
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

/** The machine's CPU time so far, seconds summed over all cores: busy (user, nice, system, irq, softirq, steal) and idle (idle, iowait). */
export function machineCpu(): { busy: number; idle: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { busy: (user + nice + system + irq + softirq + steal) / CLK_TCK, idle: (idle + iowait) / CLK_TCK };
}
